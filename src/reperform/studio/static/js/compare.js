// Before/after view: the same two media elements shown side by side, or stacked with a wipe.
// Switching views only changes CSS classes, so playback position is never lost.

const RESYNC_S = 0.15; // re-seek the "before" video when it drifts further than this from the result

export function createCompare(els) {
  const { stage, beforeVideo, beforeImage, after, wipe, wipeControl, viewRadios } = els;

  function setWipe(percent) {
    stage.style.setProperty("--wipe", `${percent}%`);
    wipe.setAttribute("aria-valuetext", `${100 - percent}% after, ${percent}% before`);
  }

  function setView(view) {
    stage.classList.toggle("side", view === "side");
    stage.classList.toggle("wipe", view === "wipe");
    wipeControl.hidden = view !== "wipe";
  }

  for (const r of viewRadios) r.addEventListener("change", () => r.checked && setView(r.value));
  wipe.addEventListener("input", () => setWipe(Number(wipe.value)));

  // Keep the muted original running alongside the result, whichever one the user drives.
  const follow = () => {
    if (beforeVideo.hidden || !beforeVideo.src || !Number.isFinite(beforeVideo.duration)) return;
    const target = Math.min(after.currentTime, Math.max(0, beforeVideo.duration - 0.05));
    if (Math.abs(beforeVideo.currentTime - target) > RESYNC_S) beforeVideo.currentTime = target;
  };
  after.addEventListener("play", () => {
    follow();
    if (!beforeVideo.hidden && beforeVideo.src) beforeVideo.play().catch(() => {});
  });
  after.addEventListener("pause", () => beforeVideo.pause());
  after.addEventListener("seeked", follow);
  after.addEventListener("timeupdate", follow);

  after.addEventListener("loadedmetadata", () => {
    if (after.videoWidth && after.videoHeight) stage.style.setProperty("--aspect", String(after.videoWidth / after.videoHeight));
  });

  setWipe(Number(wipe.value));

  return {
    /** Show `afterUrl` against the original (`before.url`, a video or a photo). */
    show(afterUrl, before) {
      after.src = afterUrl;
      after.load();
      beforeVideo.pause();
      if (before && before.url && before.isImage) {
        beforeImage.src = before.url;
        beforeImage.hidden = false;
        beforeVideo.hidden = true;
        beforeVideo.removeAttribute("src");
      } else if (before && before.url) {
        beforeVideo.src = before.url;
        beforeVideo.hidden = false;
        beforeImage.hidden = true;
      } else {
        beforeVideo.hidden = true;
        beforeImage.hidden = true;
      }
    },
  };
}
