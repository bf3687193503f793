//! The sensors a car carries and the observations they give a model.
//!
//! One [`Sensor`] names what a model sees everywhere: the simulator's `[env] observation`, the
//! model file's `observation.sensor`, the car binary's camera. Observations are u8 pixels for
//! images and f32 values otherwise; [`ObsBuffer`] owns a batch of them, [`Observations`] and
//! [`ObsMut`] borrow one.

use serde::{Deserialize, Serialize};

use crate::CarSpec;

/// What the policy sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sensor {
    /// Front camera, 160x120 grayscale, u8, row-major: `[1, height, width]`.
    Camera,
    /// Two front cameras, u8, `[2, height, width]` (left plane, then right).
    Stereo,
    /// Lidar ranges in metres, f32, from -150 to +150 degrees (64 by default).
    Lidar,
    /// The simulator's compact state vector (f32, [`STATE_LEN`] values): speed, steering,
    /// offset, heading error, yaw rate, curvature ahead. Privileged information no real car
    /// has; for research.
    State,
}

/// Length of the `state` observation.
pub const STATE_LEN: usize = 16;

impl Sensor {
    /// Shape of one observation: channels x height x width for images, a length otherwise.
    pub fn shape(&self, car: &CarSpec) -> Vec<usize> {
        let (w, h) = (car.camera.width_px as usize, car.camera.height_px as usize);
        match self {
            Sensor::Camera => vec![1, h, w],
            Sensor::Stereo => vec![2, h, w],
            Sensor::Lidar => vec![car.lidar.rays],
            Sensor::State => vec![STATE_LEN],
        }
    }

    /// Number of values in one observation (every step asks: no allocation).
    pub fn len(&self, car: &CarSpec) -> usize {
        let pixels = car.camera.width_px as usize * car.camera.height_px as usize;
        match self {
            Sensor::Camera => pixels,
            Sensor::Stereo => 2 * pixels,
            Sensor::Lidar => car.lidar.rays,
            Sensor::State => STATE_LEN,
        }
    }

    /// Images are u8, the rest f32.
    pub fn is_image(&self) -> bool {
        matches!(self, Sensor::Camera | Sensor::Stereo)
    }
}

/// Observations of a batch, one after the other, owned: u8 for images, f32 otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ObsBuffer {
    U8(Vec<u8>),
    F32(Vec<f32>),
}

impl ObsBuffer {
    /// `len` zero values of the type `sensor` gives.
    pub fn zeros(sensor: Sensor, len: usize) -> ObsBuffer {
        if sensor.is_image() {
            ObsBuffer::U8(vec![0; len])
        } else {
            ObsBuffer::F32(vec![0.0; len])
        }
    }

    /// An empty buffer of the same value type, with room for `capacity` values.
    pub fn empty_like(&self, capacity: usize) -> ObsBuffer {
        match self {
            ObsBuffer::U8(_) => ObsBuffer::U8(Vec::with_capacity(capacity)),
            ObsBuffer::F32(_) => ObsBuffer::F32(Vec::with_capacity(capacity)),
        }
    }

    pub fn len(&self) -> usize {
        self.view().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn view(&self) -> Observations<'_> {
        match self {
            ObsBuffer::U8(v) => Observations::U8(v),
            ObsBuffer::F32(v) => Observations::F32(v),
        }
    }

    pub fn view_mut(&mut self) -> ObsMut<'_> {
        match self {
            ObsBuffer::U8(v) => ObsMut::U8(v),
            ObsBuffer::F32(v) => ObsMut::F32(v),
        }
    }

    /// Appends `more`; false (and nothing appended) when its value type differs.
    pub fn extend_from(&mut self, more: Observations) -> bool {
        match (self, more) {
            (ObsBuffer::U8(v), Observations::U8(m)) => v.extend_from_slice(m),
            (ObsBuffer::F32(v), Observations::F32(m)) => v.extend_from_slice(m),
            _ => return false,
        }
        true
    }
}

/// A batch of observations, borrowed.
#[derive(Debug, Clone, Copy)]
pub enum Observations<'a> {
    U8(&'a [u8]),
    F32(&'a [f32]),
}

impl Observations<'_> {
    pub fn len(&self) -> usize {
        match self {
            Observations::U8(v) => v.len(),
            Observations::F32(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A writable observation slot.
#[derive(Debug)]
pub enum ObsMut<'a> {
    U8(&'a mut [u8]),
    F32(&'a mut [f32]),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_value_types_follow_the_car() {
        let car = CarSpec::deepracer();
        assert_eq!(Sensor::Camera.shape(&car), vec![1, 120, 160]);
        assert_eq!(Sensor::Stereo.len(&car), 2 * 120 * 160);
        assert_eq!(Sensor::Lidar.len(&car), 64);
        assert_eq!(Sensor::State.len(&car), STATE_LEN);
        for sensor in [Sensor::Camera, Sensor::Stereo, Sensor::Lidar, Sensor::State] {
            assert_eq!(sensor.len(&car), sensor.shape(&car).iter().product::<usize>());
        }
        assert!(matches!(ObsBuffer::zeros(Sensor::Stereo, 4), ObsBuffer::U8(v) if v == [0; 4]));
        assert!(matches!(ObsBuffer::zeros(Sensor::Lidar, 2), ObsBuffer::F32(_)));
        // The names in config and model files.
        assert_eq!(serde_json::to_string(&Sensor::Lidar).unwrap(), "\"lidar\"");
    }

    #[test]
    fn a_buffer_takes_only_its_own_value_type() {
        let mut b = ObsBuffer::F32(vec![1.0]);
        assert!(b.extend_from(Observations::F32(&[2.0, 3.0])));
        assert!(!b.extend_from(Observations::U8(&[9])));
        assert_eq!(b, ObsBuffer::F32(vec![1.0, 2.0, 3.0]));
        assert_eq!(b.empty_like(8).len(), 0);
    }
}
