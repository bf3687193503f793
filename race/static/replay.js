// The animated replay of a submission's evaluation: the car over the track from above, and a
// chase view that turns with the car, with the lap, its time, the speed and the resets written
// over them. Plays at the simulator's own time (15 steps a second), looping.
(function () {
  const box = document.getElementById("replay");
  if (!box) return;
  const top = document.getElementById("replay-top").getContext("2d");
  const chase = document.getElementById("replay-chase").getContext("2d");
  const playBtn = document.getElementById("replay-play");
  const speedSel = document.getElementById("replay-speed");
  let data, frames = [], bounds, playing = true, t0 = performance.now(), at = 0, flash = 0;

  function prepare(d) {
    data = d;
    let clock = 0;
    for (const lap of d.laps) {
      let penalties = 0;
      for (const p of lap.trace) {
        if (p.reset) penalties += 1;
        frames.push({ lap: lap.lap, p, time: clock + p.t, lapTime: p.t, resets: penalties, done: lap.completed, lapTotal: lap.time_s });
      }
      clock += lap.trace.length ? lap.trace[lap.trace.length - 1].t : 0;
    }
    const all = d.track.left.concat(d.track.right);
    const xs = all.map(p => p[0]), ys = all.map(p => p[1]);
    bounds = { x0: Math.min(...xs) - 0.3, x1: Math.max(...xs) + 0.3, y0: Math.min(...ys) - 0.3, y1: Math.max(...ys) + 0.3 };
  }

  function ring(ctx, pts) { ctx.beginPath(); pts.forEach((p, i) => i ? ctx.lineTo(p[0], p[1]) : ctx.moveTo(p[0], p[1])); ctx.closePath(); }

  function drawTrack(ctx, px) {
    ctx.fillStyle = "#3b3f46";
    ring(ctx, data.track.left); ring(ctx, data.track.right.slice().reverse());
    ctx.beginPath();
    data.track.left.forEach((p, i) => i ? ctx.lineTo(p[0], p[1]) : ctx.moveTo(p[0], p[1])); ctx.closePath();
    data.track.right.forEach((p, i) => i ? ctx.lineTo(p[0], p[1]) : ctx.moveTo(p[0], p[1])); ctx.closePath();
    ctx.fill("evenodd");
    ctx.lineWidth = 2 / px; ctx.strokeStyle = "#f4f4f4";
    ring(ctx, data.track.left); ctx.stroke(); ring(ctx, data.track.right); ctx.stroke();
    ctx.setLineDash([6 / px, 6 / px]); ctx.strokeStyle = "#f2c14e"; ring(ctx, data.track.centre); ctx.stroke(); ctx.setLineDash([]);
  }

  function drawCar(ctx, p, px) {
    ctx.save(); ctx.translate(p.x, p.y); ctx.rotate(p.yaw);
    ctx.fillStyle = "#ff5d5d"; ctx.fillRect(-0.2, -0.1, 0.4, 0.2);
    ctx.fillStyle = "#ffffff"; ctx.fillRect(0.12, -0.07, 0.06, 0.14);
    ctx.restore();
  }

  function trail(ctx, upto, px) {
    ctx.lineWidth = 2.5 / px;
    for (let i = Math.max(1, upto - 150); i <= upto; i++) {
      const a = frames[i - 1].p, b = frames[i].p;
      if (b.reset || frames[i].lap !== frames[i - 1].lap && false) continue;
      const s = Math.min(1, b.speed / 4);
      ctx.strokeStyle = `hsl(${120 * s}, 85%, 55%)`;
      ctx.beginPath(); ctx.moveTo(a.x, a.y); ctx.lineTo(b.x, b.y); ctx.stroke();
    }
  }

  function overlay(ctx, w, f) {
    ctx.fillStyle = "rgba(10,12,16,0.72)"; ctx.fillRect(10, 10, 230, 92);
    ctx.fillStyle = "#e8ecf2"; ctx.font = "bold 20px system-ui, sans-serif";
    ctx.fillText(`Lap ${f.lap}  ${f.lapTime.toFixed(2)} s`, 20, 38);
    ctx.font = "16px system-ui, sans-serif";
    ctx.fillText(`${f.p.speed.toFixed(2)} m/s   ${f.p.progress.toFixed(0)} %`, 20, 62);
    ctx.fillText(`resets ${f.resets}`, 20, 86);
    if (flash > 0) { ctx.fillStyle = "rgba(255,80,80,0.9)"; ctx.font = "bold 22px system-ui, sans-serif"; ctx.fillText("OFF TRACK", w - 150, 38); }
  }

  function frame(now) {
    if (playing) at += (now - t0) / 1000 * Number(speedSel.value);
    t0 = now;
    const total = frames[frames.length - 1].time;
    if (at > total + 1.5) at = 0;
    let i = frames.findIndex(f => f.time >= at); if (i < 0) i = frames.length - 1;
    const f = frames[i];
    if (f.p.reset) flash = 20; else if (flash > 0) flash--;
    // From above.
    const W = top.canvas.width, H = top.canvas.height;
    const px = Math.min(W / (bounds.x1 - bounds.x0), H / (bounds.y1 - bounds.y0));
    top.setTransform(1, 0, 0, 1, 0, 0); top.clearRect(0, 0, W, H);
    top.setTransform(px, 0, 0, -px, (W - px * (bounds.x1 - bounds.x0)) / 2 - px * bounds.x0, (H + px * (bounds.y1 - bounds.y0)) / 2 + px * bounds.y0);
    drawTrack(top, px); trail(top, i, px); drawCar(top, f.p, px);
    top.setTransform(1, 0, 0, 1, 0, 0); overlay(top, W, f);
    // The chase view: the car in the lower middle, pointing up, the world turning around it.
    const cw = chase.canvas.width, ch = chase.canvas.height, zoom = 90;
    chase.setTransform(1, 0, 0, 1, 0, 0); chase.fillStyle = "#20402a"; chase.fillRect(0, 0, cw, ch);
    chase.setTransform(1, 0, 0, 1, cw / 2, ch * 0.72); chase.rotate(-Math.PI / 2 - 0); chase.scale(zoom, -zoom);
    chase.rotate(-f.p.yaw); chase.translate(-f.p.x, -f.p.y);
    drawTrack(chase, zoom); trail(chase, i, zoom); drawCar(chase, f.p, zoom);
    chase.setTransform(1, 0, 0, 1, 0, 0); overlay(chase, cw, f);
    requestAnimationFrame(frame);
  }

  playBtn.addEventListener("click", () => { playing = !playing; playBtn.textContent = playing ? "Pause" : "Play"; });
  fetch(box.dataset.src).then(r => r.json()).then(d => { prepare(d); if (frames.length) requestAnimationFrame(frame); });
})();
