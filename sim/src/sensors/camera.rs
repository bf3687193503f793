//! The front camera: a pinhole camera ray-cast against the ground plane, the distant skyline
//! and obstacle boxes, on the CPU, without allocating.

use glam::{Quat, Vec3};
use paddock_vehicle::CameraMount;

use crate::scene::{palette, Skyline, TrackScene};
use crate::{CarPose, Obstacle};

/// Extra blur for the mip choice (>1 blurs sooner, <1 keeps detail longer but aliases).
const MIP_BIAS: f32 = 0.7;
/// Slant distance where distant ground starts fading into haze, and the fade length, metres.
const HAZE_START_M: f32 = 8.0;
const HAZE_LENGTH_M: f32 = 40.0;
/// Gray of the haze at the horizon.
const HAZE: u32 = 150;
/// Columns per chunk of the vectorised pass.
const CHUNK: usize = 32;
/// Most mip levels the camera uses.
const MAX_LEVELS: usize = 8;
/// Rays rising less steeply than this (z of the unnormalised ray) count as sky.
const GROUND_EPS: f32 = 1e-6;

/// Largest fixed-point texel coordinate the camera computes (2^22, the limit of `round_small`);
/// `MAX_TEXELS` in the scene keeps textures well inside it (2^22 / 256 = 16384 texels a side).
const FIXED_LIMIT: f32 = 4_194_000.0;

/// Rounds `v` (|v| < 2^22) to the nearest integer. Adding 1.5 * 2^23 leaves the integer in the
/// low mantissa bits; unlike `as i32` this needs no saturation handling, so it vectorises into
/// two instructions.
#[inline(always)]
fn round_small(v: f32) -> i32 {
    const MAGIC: f32 = 12_582_912.0;
    (v + MAGIC).to_bits() as i32 - MAGIC.to_bits() as i32
}

/// Per-chunk results of the vectorised pass.
struct Lanes {
    level: [u32; CHUNK],
    x: [i32; CHUNK],
    y: [i32; CHUNK],
    haze: [u32; CHUNK],
    bin: [u32; CHUNK],
    elev: [f32; CHUNK],
}

impl Default for Lanes {
    fn default() -> Self {
        Lanes { level: [0; CHUNK], x: [0; CHUNK], y: [0; CHUNK], haze: [0; CHUNK], bin: [0; CHUNK], elev: [0.0; CHUNK] }
    }
}

/// Direction the light comes from (world), for shading obstacle faces.
const LIGHT: Vec3 = Vec3::new(0.45, 0.3, 0.84);

/// A pinhole camera fixed to the car: DeepRacer's front camera, or one of a stereo pair.
#[derive(Debug, Clone)]
pub struct Camera {
    width: usize,
    height: usize,
    /// Focal length, pixels.
    focal: f32,
    /// Lens position in the car frame (x forward, y left, z up), metres.
    offset: Vec3,
    /// Camera-to-car rotation (the downward tilt).
    tilt: Quat,
    /// Camera-frame ray of pixel (0, 0)'s centre, and the change per column and per row:
    /// pixel (c, r) looks along `ray00 + c * ray_dc + r * ray_dr` (x forward, y left, z up).
    /// The rays are linear in the pixel position, so per frame three rotated vectors suffice.
    ray00: Vec3,
    ray_dc: Vec3,
    ray_dr: Vec3,
}

/// Per-frame quantities shared by the ground and obstacle passes.
struct Frame {
    origin: Vec3,
    rotation: Quat,
    /// World rays: pixel (c, r) looks along `d00 + c * dc + r * dr` (not normalised).
    d00: Vec3,
    dc: Vec3,
    dr: Vec3,
}

impl Camera {
    /// A camera at `mount`, shifted `lateral_offset_m` to the left (negative: right) of the
    /// car's centre line.
    pub fn new(mount: &CameraMount, lateral_offset_m: f32) -> Camera {
        let width = mount.width_px.max(1) as usize;
        let height = mount.height_px.max(1) as usize;
        let hfov = if mount.hfov_rad.is_finite() { mount.hfov_rad.clamp(0.05, 3.0) } else { 1.13 };
        let focal = width as f32 / 2.0 / (hfov / 2.0).tan();
        // Image x grows to the right (-y), image rows grow downwards (-z).
        let ray_dc = Vec3::new(0.0, -1.0 / focal, 0.0);
        let ray_dr = Vec3::new(0.0, 0.0, -1.0 / focal);
        let ray00 = Vec3::new(1.0, (width as f32 / 2.0 - 0.5) / focal, (height as f32 / 2.0 - 0.5) / focal);
        Camera {
            width,
            height,
            focal,
            offset: Vec3::new(mount.x_m, lateral_offset_m, mount.z_m),
            // A positive rotation about +y turns the forward axis downwards.
            tilt: Quat::from_rotation_y(mount.pitch_down_rad),
            ray00,
            ray_dc,
            ray_dr,
        }
    }

    pub fn width(&self) -> usize {
        self.width
    }
    pub fn height(&self) -> usize {
        self.height
    }
    /// Focal length in pixels.
    pub fn focal_px(&self) -> f32 {
        self.focal
    }

    /// Camera-frame direction (x forward, y left, z up, before the tilt) of a pixel centre.
    pub fn pixel_ray(&self, col: f32, row: f32) -> Vec3 {
        self.ray00 + self.ray_dc * col + self.ray_dr * row
    }

    fn frame(&self, pose: &CarPose) -> Frame {
        let rotation = pose.rotation * self.tilt;
        Frame {
            origin: pose.to_world(self.offset),
            rotation,
            d00: rotation * self.ray00,
            dc: rotation * self.ray_dc,
            dr: rotation * self.ray_dr,
        }
    }

    /// Renders the view from a car at `pose` into `out`: `width * height` gray bytes, row-major,
    /// top row first.
    ///
    /// # Panics
    /// If `out.len() != width * height`.
    pub fn render(&self, scene: &TrackScene, pose: &CarPose, objects: &[Obstacle], out: &mut [u8]) {
        assert_eq!(out.len(), self.width * self.height, "camera buffer must hold width*height bytes");
        let f = self.frame(pose);
        self.render_background(scene, &f, out);
        self.render_obstacles(&f, objects, out);
    }

    /// Ground and skyline. Each row is done in chunks of columns: a branch-free pass that the
    /// compiler vectorises (ray, ground hit, mip level, fixed-point texel coordinates, or the
    /// sky's azimuth bin and elevation), then a scalar pass for the texture and table lookups.
    fn render_background(&self, scene: &TrackScene, f: &Frame, out: &mut [u8]) {
        let ground = &scene.ground;
        let n_levels = ground.levels.len().min(MAX_LEVELS);
        let mut levels: [(&[u8], u32, u32); MAX_LEVELS] = [(&[], 0, 0); MAX_LEVELS];
        for (slot, lv) in levels.iter_mut().zip(&ground.levels) {
            *slot = (&lv.data, lv.w as u32, lv.h as u32);
        }
        let height = f.origin.z.max(0.005);
        // Slant distance (squared) beyond which each coarser level is used: where the pixel's
        // ground footprint (the geometric mean of across, D/focal, and along,
        // D^2/(focal*height)) reaches that level's texel size times the bias.
        let mut mip_d2 = [f32::INFINITY; MAX_LEVELS - 1];
        for (k, lv) in ground.levels.iter().enumerate().skip(1).take(n_levels - 1) {
            let d = (lv.texel * MIP_BIAS * height.sqrt() * self.focal).powf(2.0 / 3.0);
            mip_d2[k - 1] = d * d;
        }
        // Level-0 texels per metre, in 8-bit fixed point.
        let scale0 = ground.levels[0].inv_texel * 256.0;
        let (ox, oy, oz) = (f.origin.x - ground.origin.x, f.origin.y - ground.origin.y, f.origin.z);
        let floor = ground.floor as u32;
        let skyline = &scene.skyline;
        let sky_gradient = self.sky_gradient_scale();

        let mut lane = Lanes::default();
        for (r, row) in out.chunks_exact_mut(self.width).enumerate() {
            let d_row = f.d00 + f.dr * r as f32;
            for (ci, chunk) in row.chunks_mut(CHUNK).enumerate() {
                let c0 = (ci * CHUNK) as f32;
                let base = d_row + f.dc * c0;
                // The ray's z is linear along the row: its ends tell which passes are needed.
                let z_first = base.z;
                let z_last = base.z + f.dc.z * (chunk.len() - 1) as f32;
                let any_ground = z_first.min(z_last) < -GROUND_EPS;
                let any_sky = z_first.max(z_last) >= -GROUND_EPS;
                if any_ground {
                    for i in 0..CHUNK {
                        let c = i as f32;
                        let dx = base.x + f.dc.x * c;
                        let dy = base.y + f.dc.y * c;
                        let dz = (base.z + f.dc.z * c).min(-GROUND_EPS);
                        let t = -oz / dz;
                        let px = ox + t * dx;
                        let py = oy + t * dy;
                        let d2 = t * t * (dx * dx + dy * dy + dz * dz);
                        let mut level = 0u32;
                        for &m in &mip_d2 {
                            level += (d2 > m) as u32;
                        }
                        // 2^-level as a float built from its exponent bits.
                        let sc = scale0 * f32::from_bits((127 - level) << 23);
                        lane.level[i] = level;
                        // Clamped to where the texture could be (any point beyond it reads the
                        // floor), so the cheap rounding below is exact.
                        lane.x[i] = round_small((px * sc - 128.0).max(-256.0).min(FIXED_LIMIT));
                        lane.y[i] = round_small((py * sc - 128.0).max(-256.0).min(FIXED_LIMIT));
                        let haze = ((d2.sqrt() - HAZE_START_M) * (256.0 / HAZE_LENGTH_M)).max(0.0).min(256.0);
                        lane.haze[i] = round_small(haze) as u32;
                    }
                }
                if any_sky {
                    for i in 0..CHUNK {
                        let c = i as f32;
                        let dx = base.x + f.dc.x * c;
                        let dy = base.y + f.dc.y * c;
                        let dz = base.z + f.dc.z * c;
                        lane.bin[i] = Skyline::bin(dx, dy) as u32;
                        lane.elev[i] = dz / (dx * dx + dy * dy).sqrt().max(1e-9);
                    }
                }
                for (i, px) in chunk.iter_mut().enumerate() {
                    let dz = base.z + f.dc.z * i as f32;
                    *px = if dz < -GROUND_EPS {
                        let (data, w, h) = levels[(lane.level[i] as usize).min(n_levels - 1)];
                        let g = sample(data, w, h, lane.x[i], lane.y[i]).unwrap_or(floor);
                        let k = lane.haze[i];
                        ((g * (256 - k) + HAZE * k) >> 8) as u8
                    } else {
                        sky(skyline, lane.bin[i] as usize, lane.elev[i], sky_gradient)
                    };
                }
            }
        }
    }

    /// How fast the sky brightens with elevation (per unit tangent).
    fn sky_gradient_scale(&self) -> f32 {
        60.0
    }

    /// Boxes, drawn far to near (painter's order) over the ground, each only inside its screen
    /// rectangle.
    fn render_obstacles(&self, f: &Frame, objects: &[Obstacle], out: &mut [u8]) {
        let inv_rot = f.rotation.inverse();
        // Selection by (distance, index), descending, without allocating: O(n^2) in the number
        // of obstacles, which is small next to the per-pixel work.
        let key = |i: usize| (objects[i].centre - f.origin.truncate()).length_squared();
        let mut last: Option<(f32, usize)> = None;
        for _ in 0..objects.len() {
            let mut next: Option<(f32, usize)> = None;
            for i in 0..objects.len() {
                let k = key(i);
                let before_last = match last {
                    None => true,
                    Some((lk, li)) => k < lk || (k == lk && i < li),
                };
                let better = match next {
                    None => true,
                    Some((nk, ni)) => k > nk || (k == nk && i > ni),
                };
                if before_last && better && k.is_finite() {
                    next = Some((k, i));
                }
            }
            let Some((k, i)) = next else { break };
            last = Some((k, i));
            self.render_box(f, inv_rot, &objects[i], out);
        }
    }

    fn render_box(&self, f: &Frame, inv_rot: Quat, ob: &Obstacle, out: &mut [u8]) {
        let he = ob.half_extents.abs();
        if !(he.is_finite() && ob.centre.is_finite() && ob.yaw.is_finite()) || he.min_element() <= 0.0 {
            return;
        }
        let centre = Vec3::new(ob.centre.x, ob.centre.y, he.z);
        let (sin, cos) = ob.yaw.sin_cos();
        let to_world = |l: Vec3| Vec3::new(cos * l.x - sin * l.y, sin * l.x + cos * l.y, l.z);
        let to_local = |w: Vec3| Vec3::new(cos * w.x + sin * w.y, -sin * w.x + cos * w.y, w.z);

        // Screen rectangle of the 8 corners; a corner behind the lens makes it the whole screen.
        let (w, h) = (self.width as f32, self.height as f32);
        let (mut c0, mut c1, mut r0, mut r1) = (f32::INFINITY, f32::NEG_INFINITY, f32::INFINITY, f32::NEG_INFINITY);
        let mut behind = 0;
        let mut full = false;
        for k in 0..8 {
            let sx = if k & 1 == 0 { -1.0 } else { 1.0 };
            let sy = if k & 2 == 0 { -1.0 } else { 1.0 };
            let sz = if k & 4 == 0 { -1.0 } else { 1.0 };
            let corner = centre + to_world(he * Vec3::new(sx, sy, sz));
            // Camera frame (x forward, y left, z up), relative to the pixel grid's tilt.
            let q = inv_rot * (corner - f.origin);
            if q.x <= 1e-3 {
                behind += 1;
                full = true;
                continue;
            }
            let col = w / 2.0 - self.focal * q.y / q.x;
            let row = h / 2.0 - self.focal * q.z / q.x;
            c0 = c0.min(col);
            c1 = c1.max(col);
            r0 = r0.min(row);
            r1 = r1.max(row);
        }
        if behind == 8 {
            return;
        }
        let (col0, col1, row0, row1) = if full {
            (0, self.width - 1, 0, self.height - 1)
        } else {
            if c1 < 0.0 || r1 < 0.0 || c0 >= w || r0 >= h {
                return;
            }
            (
                c0.floor().max(0.0) as usize,
                (c1.ceil().max(0.0) as usize).min(self.width - 1),
                r0.floor().max(0.0) as usize,
                (r1.ceil().max(0.0) as usize).min(self.height - 1),
            )
        };

        // Face grays: sides by how squarely they face the light, the top a little brighter.
        let shade = ob.shade as f32;
        let light = LIGHT.normalize();
        let side = |n: Vec3| {
            let lambert = to_world(n).dot(light).max(0.0) / light.truncate().length().max(1e-6);
            (shade * (0.8 + 0.2 * lambert)).min(255.0)
        };
        let faces = [
            [side(Vec3::NEG_X), side(Vec3::X)],
            [side(Vec3::NEG_Y), side(Vec3::Y)],
            [shade * 0.6, (shade * 1.06).min(255.0)],
        ];

        // Ray in the box's frame, linear in the pixel position like the world ray.
        let o = to_local(f.origin - centre);
        let l00 = to_local(f.d00);
        let ldc = to_local(f.dc);
        let ldr = to_local(f.dr);
        for r in row0..=row1 {
            let mut d = l00 + ldr * r as f32 + ldc * col0 as f32;
            let mut dw = f.d00 + f.dr * r as f32 + f.dc * col0 as f32;
            for px in &mut out[r * self.width + col0..=r * self.width + col1] {
                if let Some((t, axis, positive)) = slab(o, d, he) {
                    // Depth test against the ground (a box never sinks into it, but a tilted
                    // camera near the ground could otherwise see one through the floor).
                    let ground_t = if dw.z < 0.0 { -f.origin.z / dw.z } else { f32::INFINITY };
                    if t <= ground_t {
                        *px = faces[axis][positive as usize] as u8;
                    }
                }
                d += ldc;
                dw += f.dc;
            }
        }
    }
}

/// Ray o + t d against the box [-he, he]: the entry distance, the axis of the face entered and
/// whether that face is the positive one. None for a miss or a box behind (or around) the ray's
/// origin.
#[inline]
fn slab(o: Vec3, d: Vec3, he: Vec3) -> Option<(f32, usize, bool)> {
    let inv = Vec3::ONE / d;
    let ta = (-he - o) * inv;
    let tb = (he - o) * inv;
    let near = ta.min(tb);
    let far = ta.max(tb);
    let t_far = far.min_element();
    let (t_near, axis) = if near.x >= near.y && near.x >= near.z {
        (near.x, 0)
    } else if near.y >= near.z {
        (near.y, 1)
    } else {
        (near.z, 2)
    };
    if t_near <= t_far && t_near > 0.0 {
        Some((t_near, axis, d[axis] < 0.0))
    } else {
        None
    }
}

/// Bilinear sample of one mip level (`data`, `w` x `h` texels) at fixed-point texel
/// coordinates (8 fraction bits, texel centres at integers); None beyond the texture.
#[inline(always)]
fn sample(data: &[u8], w: u32, h: u32, x: i32, y: i32) -> Option<u32> {
    // Negative coordinates wrap to huge unsigned values and fail the test too.
    let (x0, y0) = ((x as u32) >> 8, (y as u32) >> 8);
    if x0 + 1 >= w || y0 + 1 >= h {
        return None;
    }
    let (fx, fy) = (x as u32 & 255, y as u32 & 255);
    let i = (y0 * w + x0) as usize;
    let w = w as usize;
    let (a, b, c, d) = (*data.get(i)?, *data.get(i + 1)?, *data.get(i + w)?, *data.get(i + w + 1)?);
    let top = a as u32 * (256 - fx) + b as u32 * fx;
    let bot = c as u32 * (256 - fx) + d as u32 * fx;
    Some((top * (256 - fy) + bot * fy) >> 16)
}

/// Sky and skyline for a ray with azimuth bin `bin` and elevation tangent `elev`.
#[inline(always)]
fn sky(skyline: &Skyline, bin: usize, elev: f32, gradient: f32) -> u8 {
    let bin = bin.min(skyline.top.len() - 1);
    let top = skyline.top[bin];
    if elev < top {
        // Buildings: slightly darker towards their base.
        let g = skyline.shade[bin] as f32;
        return (g * (0.85 + 0.15 * (elev / top).clamp(0.0, 1.0))) as u8;
    }
    (palette::SKY_HORIZON + gradient * elev).min(palette::SKY_TOP) as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use paddock_vehicle::CarSpec;

    #[test]
    fn horizon_sits_about_a_quarter_down() {
        let cam = Camera::new(&CarSpec::deepracer().camera, 0.0);
        // Find the first row whose central ray points below the horizontal.
        let tilt = cam.tilt;
        let row = (0..cam.height()).find(|&r| (tilt * cam.pixel_ray(79.5, r as f32)).z < 0.0).expect("ground visible");
        let frac = row as f32 / cam.height() as f32;
        assert!((0.17..0.3).contains(&frac), "horizon at row {row}");
    }

    #[test]
    fn slab_hits_front_face() {
        let hit = slab(Vec3::new(-2.0, 0.0, 0.0), Vec3::X, Vec3::splat(0.5)).expect("hit");
        assert!((hit.0 - 1.5).abs() < 1e-6 && hit.1 == 0 && !hit.2);
        assert!(slab(Vec3::new(-2.0, 0.0, 0.0), Vec3::NEG_X, Vec3::splat(0.5)).is_none());
        assert!(slab(Vec3::new(-2.0, 1.0, 0.0), Vec3::X, Vec3::splat(0.5)).is_none());
    }
}
