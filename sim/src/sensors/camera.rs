//! The front camera: a pinhole camera ray-cast against the ground plane, the distant skyline
//! and obstacle boxes, on the CPU, without allocating.

use glam::{Quat, Vec3};
use paddock_vehicle::CameraMount;

use crate::scene::{palette, Skyline, TrackScene, SKYLINE_BINS};
use crate::{CarPose, Obstacle};

/// Extra blur for the mip choice (>1 blurs sooner, <1 keeps detail longer but aliases).
const MIP_BIAS: f32 = 0.7;
/// Slant distance where distant ground starts fading into haze; the haze grows with the square
/// of the distance and would be complete at about `HAZE_END_M`.
const HAZE_START_M: f32 = 8.0;
const HAZE_END_M: f32 = 30.0;
/// How fast the sky brightens with elevation, gray levels per unit of elevation tangent.
const SKY_GRADIENT: f32 = 60.0;
/// Gray of the haze at the horizon.
const HAZE: u16 = 150;
/// Columns per chunk of the vectorised pass.
const CHUNK: usize = 32;
/// 0, 1, 2, ... as floats: a load the compiler vectorises, where `i as f32` would be converted
/// lane by lane.
const COLS: [f32; CHUNK] = {
    let mut c = [0.0; CHUNK];
    let mut i = 0;
    while i < CHUNK {
        c[i] = i as f32;
        i += 1;
    }
    c
};
/// Most mip levels the camera uses.
const MAX_LEVELS: usize = crate::scene::MIP_LEVELS + 1;
const _: () = assert!(MAX_LEVELS <= 8, "levels are indexed with `& 7`");
/// Rays rising less steeply than this (z of the unnormalised ray) count as sky.
const GROUND_EPS: f32 = 1e-6;

/// Rounds `v` (|v| < 2^22) to the nearest integer: adding 1.5 * 2^23 leaves the integer in the
/// low mantissa bits. Unlike `as i32` this needs no saturation handling, so it vectorises into
/// two instructions. (Fixed-point texel coordinates stay below 16000 * 256 < 2^22: the scene
/// keeps textures under 16000 texels a side.)
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
    haze: [u16; CHUNK],
    inside: [u16; CHUNK],
    block: [u32; CHUNK],
    value: [u8; CHUNK],
    bin: [u32; CHUNK],
    elev: [f32; CHUNK],
    top: [f32; CHUNK],
    shade: [f32; CHUNK],
}

impl Default for Lanes {
    fn default() -> Self {
        Lanes {
            level: [0; CHUNK],
            x: [0; CHUNK],
            y: [0; CHUNK],
            haze: [0; CHUNK],
            inside: [0; CHUNK],
            block: [0; CHUNK],
            value: [0; CHUNK],
            bin: [0; CHUNK],
            elev: [0.0; CHUNK],
            top: [0.0; CHUNK],
            shade: [0.0; CHUNK],
        }
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
        Frame { origin: pose.to_world(self.offset), rotation, d00: rotation * self.ray00, dc: rotation * self.ray_dc, dr: rotation * self.ray_dr }
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

    /// Ground and skyline. Each row is done in chunks of columns, in passes shaped so that the
    /// compiler vectorises all but the table lookups:
    /// 1. ray, ground hit, mip level and fixed-point texel coordinates;
    /// 2. scalar: fetch each pixel's 2x2 texel block (one 4-byte load, see [`MipLevel`]);
    /// 3. bilinear blend and haze in 16-bit lanes;
    /// 4. near the horizon only: the skyline's height and shade per azimuth bin (scalar
    ///    lookups), then sky or building, and the choice of ground or sky.
    ///
    /// [`MipLevel`]: crate::scene::MipLevel
    // Indexed loops over fixed-size lanes vectorise reliably; `max().min()` (unlike `clamp`)
    // maps NaN to a bound, which keeps the integer tricks below safe for any pose.
    #[allow(clippy::needless_range_loop, clippy::manual_clamp)]
    fn render_background(&self, scene: &TrackScene, f: &Frame, out: &mut [u8]) {
        let ground = &scene.ground;
        let n_levels = ground.levels.len().min(MAX_LEVELS);
        // Per level (indexed by `level & 7`, which needs no bounds check): where its pairs
        // start and its width.
        let mut offsets = [0usize; 8];
        let mut widths = [0usize; 8];
        for (k, lv) in ground.levels.iter().enumerate().take(n_levels) {
            offsets[k] = lv.offset;
            widths[k] = lv.w;
        }
        // Level-0 size, in fixed point; level k's is 2^-k of it (sizes are multiples of 2^k).
        let w0 = ground.levels[0].w as f32;
        let h0 = ground.levels[0].h as f32;
        let pairs: &[u8] = &ground.pairs;
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
        // Beyond the texture: a block of plain floor.
        let floor_block = u32::from_le_bytes([ground.floor; 4]);
        let floor = ground.floor as u16;
        let skyline = &scene.skyline;

        let mut lane = Lanes::default();
        for (r, row) in out.chunks_exact_mut(self.width).enumerate() {
            let d_row = f.d00 + f.dr * r as f32;
            for (ci, chunk) in row.chunks_mut(CHUNK).enumerate() {
                let base = d_row + f.dc * (ci * CHUNK) as f32;
                // The ray's z is linear along the row: its ends tell which passes are needed.
                let z_first = base.z;
                let z_last = base.z + f.dc.z * (chunk.len() - 1) as f32;
                let any_ground = z_first.min(z_last) < -GROUND_EPS;
                let any_sky = z_first.max(z_last) >= -GROUND_EPS;
                if any_ground {
                    for i in 0..CHUNK {
                        let c = COLS[i];
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
                        let shrink = f32::from_bits((127 - level) << 23);
                        let sc = scale0 * shrink;
                        lane.level[i] = level;
                        let fx = px * sc - 128.0;
                        let fy = py * sc - 128.0;
                        // Inside when the whole 2x2 block is: 0 <= x0 and x0 + 1 < w (less a
                        // little for the rounding below). Outside, the coordinates are clamped
                        // to a valid block anyway (so the fetch needs no branch) and the blend
                        // uses the floor instead.
                        let (lim_x, lim_y) = ((w0 * shrink - 1.0) * 256.0 - 1.0, (h0 * shrink - 1.0) * 256.0 - 1.0);
                        let inside = fx >= 0.0 && fy >= 0.0 && fx < lim_x && fy < lim_y;
                        lane.inside[i] = inside as u16;
                        lane.x[i] = round_small(fx.max(0.0).min(lim_x));
                        lane.y[i] = round_small(fy.max(0.0).min(lim_y));
                        // Haze grows with the squared distance (no square root needed).
                        let haze = ((d2 - HAZE_START_M * HAZE_START_M) * (256.0 / (HAZE_END_M * HAZE_END_M))).max(0.0).min(256.0);
                        lane.haze[i] = round_small(haze) as u16;
                    }
                    for i in 0..chunk.len() {
                        let k = (lane.level[i] & 7) as usize;
                        let (x0, y0) = ((lane.x[i] >> 8) as usize, (lane.y[i] >> 8) as usize);
                        let at = offsets[k] + 2 * (y0 * widths[k] + x0);
                        lane.block[i] = fetch_block(pairs, at).unwrap_or(floor_block);
                    }
                    for i in 0..CHUNK {
                        let b = lane.block[i];
                        let (fx, fy) = ((lane.x[i] & 255) as u16, (lane.y[i] & 255) as u16);
                        // Texels (x0, y0), (x0, y0+1), (x0+1, y0), (x0+1, y0+1). Every product
                        // and sum stays below 255 * 256, so 16-bit lanes suffice.
                        let (a, c, b2, d) = ((b & 0xFF) as u16, ((b >> 8) & 0xFF) as u16, ((b >> 16) & 0xFF) as u16, (b >> 24) as u16);
                        let top = (a * (256 - fx) + b2 * fx) >> 8;
                        let bot = (c * (256 - fx) + d * fx) >> 8;
                        let g = (top * (256 - fy) + bot * fy) >> 8;
                        let g = if lane.inside[i] != 0 { g } else { floor };
                        let k = lane.haze[i];
                        lane.value[i] = ((g * (256 - k) + HAZE * k) >> 8) as u8;
                    }
                }
                if any_sky {
                    for i in 0..CHUNK {
                        let c = COLS[i];
                        let dx = base.x + f.dc.x * c;
                        let dy = base.y + f.dc.y * c;
                        let dz = base.z + f.dc.z * c;
                        lane.bin[i] = round_small(Skyline::bin_position(dx, dy) - 0.5) as u32;
                        lane.elev[i] = dz / (dx * dx + dy * dy).sqrt().max(1e-9);
                    }
                    for i in 0..chunk.len() {
                        let bin = lane.bin[i] as usize & (SKYLINE_BINS - 1);
                        lane.top[i] = skyline.top[bin];
                        lane.shade[i] = skyline.shade[bin];
                    }
                    for i in 0..CHUNK {
                        let (elev, top) = (lane.elev[i], lane.top[i]);
                        // Buildings, slightly darker towards their base, or the sky's gradient.
                        let building = lane.shade[i] * (0.85 + 0.15 * (elev / top.max(1e-6)).max(0.0).min(1.0));
                        let sky = (palette::SKY_HORIZON + SKY_GRADIENT * elev).min(palette::SKY_TOP);
                        let v = if top > 0.0 && elev < top { building } else { sky };
                        let is_ground = base.z + f.dc.z * COLS[i] < -GROUND_EPS;
                        let v = if is_ground { lane.value[i] as f32 } else { v };
                        lane.value[i] = round_small(v.max(0.0).min(255.0)) as u8;
                    }
                }
                chunk.copy_from_slice(&lane.value[..chunk.len()]);
            }
        }
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
        let faces = [[side(Vec3::NEG_X), side(Vec3::X)], [side(Vec3::NEG_Y), side(Vec3::Y)], [shade * 0.6, (shade * 1.06).min(255.0)]];

        // Ray in the box's frame, linear in the pixel position like the world ray.
        let o = to_local(f.origin - centre);
        let l00 = to_local(f.d00);
        let ldc = to_local(f.dc);
        let ldr = to_local(f.dr);
        // Face grays as u8, indexed by 2 * axis + (entered through the positive face).
        let shades = [faces[0][0], faces[0][1], faces[1][0], faces[1][1], faces[2][0], faces[2][1]].map(|v| v as u8);
        let oz = f.origin.z;
        let mut hit = [false; CHUNK];
        let mut face = [0u8; CHUNK];
        for r in row0..=row1 {
            let row = &mut out[r * self.width..(r + 1) * self.width];
            let mut c0 = col0;
            while c0 <= col1 {
                let n = (col1 + 1 - c0).min(CHUNK);
                let dl = l00 + ldr * r as f32 + ldc * c0 as f32;
                let dzw = f.d00.z + f.dr.z * r as f32 + f.dc.z * c0 as f32;
                // Branch-free slab test over a chunk of columns (vectorised).
                for i in 0..CHUNK {
                    let c = COLS[i];
                    let d = dl + ldc * c;
                    let inv = Vec3::ONE / d;
                    let ta = (-he - o) * inv;
                    let tb = (he - o) * inv;
                    let near = ta.min(tb);
                    let far = ta.max(tb);
                    let t_far = far.x.min(far.y).min(far.z);
                    let x_wins = near.x >= near.y && near.x >= near.z;
                    let y_wins = !x_wins && near.y >= near.z;
                    let t_near = if x_wins {
                        near.x
                    } else if y_wins {
                        near.y
                    } else {
                        near.z
                    };
                    let d_axis = if x_wins {
                        d.x
                    } else if y_wins {
                        d.y
                    } else {
                        d.z
                    };
                    let axis = if x_wins {
                        0u8
                    } else if y_wins {
                        2
                    } else {
                        4
                    };
                    face[i] = axis + (d_axis < 0.0) as u8;
                    // Depth test against the ground (a box never sinks into it, but a tilted
                    // camera near the ground could otherwise see one through the floor).
                    let dz = dzw + f.dc.z * c;
                    let ground_t = if dz < 0.0 { -oz / dz } else { f32::INFINITY };
                    hit[i] = t_near <= t_far && t_near > 0.0 && t_near <= ground_t;
                }
                for i in 0..n {
                    if hit[i] {
                        row[c0 + i] = shades[(face[i] as usize).min(5)];
                    }
                }
                c0 += n;
            }
        }
    }
}

/// The 2x2 texel block starting at byte `at` of the pair layout (see [`MipLevel`]): texels
/// (x0, y0), (x0, y0+1), (x0+1, y0), (x0+1, y0+1), little end first.
///
/// [`MipLevel`]: crate::scene::MipLevel
#[inline(always)]
fn fetch_block(pairs: &[u8], at: usize) -> Option<u32> {
    let q: [u8; 4] = pairs.get(at..at + 4)?.try_into().ok()?;
    Some(u32::from_le_bytes(q))
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
}
