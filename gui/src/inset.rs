//! What the model sees, as a picture for the screen: the camera's gray frame (or the stereo
//! pair side by side) expanded to RGBA, since a one-channel texture shows as red.

/// `frames` gray images of `width` x `height` (channel first, as the simulator writes them),
/// side by side: (width in pixels, height, RGBA bytes).
pub fn gray_to_rgba(pixels: &[u8], width: usize, height: usize, frames: usize) -> (usize, usize, Vec<u8>) {
    let n = width * height;
    let out_w = width * frames;
    let mut out = vec![255u8; out_w * height * 4];
    for f in 0..frames.min(pixels.len() / n.max(1)) {
        for y in 0..height {
            for x in 0..width {
                let g = pixels[f * n + y * width + x];
                let o = (y * out_w + f * width + x) * 4;
                out[o..o + 3].fill(g);
            }
        }
    }
    (out_w, height, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stereo_pair_is_shown_left_then_right() {
        // 2x1 frames: left [10, 20], right [30, 40].
        let (w, h, rgba) = gray_to_rgba(&[10, 20, 30, 40], 2, 1, 2);
        assert_eq!((w, h), (4, 1));
        let reds: Vec<u8> = rgba.chunks(4).map(|p| p[0]).collect();
        assert_eq!(reds, vec![10, 20, 30, 40]);
        assert!(rgba.chunks(4).all(|p| p[0] == p[1] && p[1] == p[2] && p[3] == 255));
    }
}
