"""How each benchmark number is measured: the prose printed into docs/benchmarks.md.

Kept beside the code (and built from its constants) so the text cannot drift from what runs.
"""

from __future__ import annotations

from benchmarks import catalog as C
from benchmarks import metrics as M
from benchmarks import quality as Q
from benchmarks import targets as T
from benchmarks import tears as TE

CROSS_SEGMENT = (
    "Each real clip with speech is cut with PyAV into disjoint (source, target) windows of equal length: "
    "the two halves of a short clip; on the long clips "
    + ", ".join(f"`{c.stem}` {c.pairs} pairs" for c in C.CLIPS if c.pairs > 1)
    + " (windows 1–2, 3–4, …: source, then the target that follows it). The source window — its pictures "
    "and the sound under them, re-encoded at the engine's x264 settings, as a user's video (the engine "
    "learns the speaker's mouth habits from it) — is driven by the audio under its target window, and "
    "the output's mouth opening is correlated (Pearson r) with the *real* target window's mouth opening — "
    "the truth a perfect system would reproduce (r = 1). Each window is analysed once "
    "(`reperform.analyze`) and planned and rendered in every mode (`reperform.plan` / `reperform.render`: "
    "the bytes `generate` writes). The **baseline** is the do-nothing output: the same source on the "
    "engine's own time map with the new audio muxed and no edit (≈ 0). In the AV columns **truth** is the "
    "real target window against its own audio (the natural lag of this speaker). Values in brackets are "
    "the baseline's. The baseline's PSNR and identity columns compare it with its own input (one "
    "re-encode's loss); an output's compare it with the baseline.\n\n"
    "**Intervals.** A window's r has a 95 % interval from Fisher's z over Bartlett's effective number of "
    "frames (mouth curves are smooth, so neighbouring frames are partly the same evidence: n_eff is "
    "typically a quarter to a tenth of the frames). A clip's windows are pooled by Fisher's fixed "
    "effect (z weighted by n_eff − 3). Every mean is over *clips* (each clip weighs the same however "
    "many windows it has) and carries two intervals: the *measurement* interval combines the clips' own "
    "uncertainties as independent — how well these clips are measured, nothing more; the *between-clip* "
    "interval is a t interval over the clip values themselves (shown cut to −1…1) — how much the result moves from one "
    "speaker and kind of footage to the next, the better guide to footage not in the set (an independent "
    "judge measured 0.10–0.18 on eleven unseen clips where this benchmark read 0.55). With a handful of "
    "clips neither says much about a group of one clip. r needs at least "
    f"{M.MIN_TRUTH_FRAMES} frames in which both mouths can be measured; a window whose truth shows the "
    "speaker less (cutaways, another face) gets no r and is left out, which the tables say."
)

GROUPS = (
    "Groups are decided by rules on what the benchmark's measurer reads on the whole clip (its columns "
    f"in the per-clip table): *small face* when the median inter-ocular distance is under "
    f"{C.SMALL_FACE_IOD_PX:.0f} px; *turned or moving head* when the median |yaw| exceeds "
    f"{C.TURNED_YAW_DEG:.0f}° or the pose's standard deviation (mean over yaw, pitch, roll) exceeds "
    f"{C.MOVING_POSE_STD_DEG:.0f}°; *frontal close-up* when neither; *non-English* from the media "
    f"README's language; *VFR* when the frame intervals' coefficient of variation exceeds {C.VFR_CV} (read "
    "from the container's timestamps). A clip can be in several groups. Target (issue 14): the mean over "
    f"all clips ≥ {T.LIPSYNC_MEAN_R_MIN}, every group ≥ {T.LIPSYNC_GROUP_R_MIN}."
)

TEARS = (
    "Issue 14 saw lips mode cut the lower face and shift it against the cheek line on a turning head. "
    "`benchmarks/tears.py` measures that per output frame against the do-nothing frame from the same "
    "source frame, on the do-nothing frame's mesh from the benchmark's own measurer. **Outline step**: "
    f"the face outline from temple to temple is sampled every {TE.SAMPLE_SPACING_IOD} inter-ocular "
    "distances (IOD); at each sample the grey-level profile across the outline is matched between the two "
    f"frames (normalised correlation ≥ {TE.MIN_PROFILE_NCC}, sub-pixel), giving how far that stretch of edge "
    "moved along its normal; the step is the largest jump in that movement between neighbouring stretches "
    "(medians of three read samples either side, so one mismatched profile is not a step). The chin's "
    "stretch and samples within "
    f"{TE.MOUTH_CLEARANCE_IOD} IOD of the lips are not read: a lip-sync edit reshapes them by design — a "
    "torn lower face still shows where its cut crosses the outline beside them. **Still points**: the "
    "cheek outline beside the ears (lips and face mode) and the eye corners and lids (lips mode) must not "
    "move: followed by their pixels (Lucas–Kanade, forward–backward checked), the largest movement in IOD. "
    "Head mode moves both by design and is judged by the step alone. Each number is the 99th percentile "
    "over a clip's frames (every window); 'frames torn' counts frames over either limit. The contact sheets "
    "show each clip's hardest frames over its windows — the largest head turn and the widest source "
    "mouth — cropped around the face at 1×: the do-nothing frame beside every mode's. The head-pose stress "
    "cases of `benchmarks/pose_tears.py` (real clips turned by a synthetic ±30–35° head rotation) are scored "
    "by this same measure; the red pixels of their sheets (output edges that neither the input nor the input "
    "moved with the face explains, in a band along the outline and the edit's edge) show where, and are not "
    "a second tear score."
)

LOCO = (
    "Every constant fitted to the dev clips is scored on speakers it never saw (`benchmarks/loco.py`): "
    "for each speaker, the fit learns from every other speaker's training footage (each clip talking in "
    "its own voice: `reperform.analyze(clip, clip)` and the measured mouth), then predicts that speaker's "
    "cross-segment windows at the plan level (the planned opening against the real target mouth; the "
    "rendered benchmark above can only lose correlation). Every dev clip has one speaker, so this is "
    "leave-one-clip-out. Training footage: "
    + ", ".join(f"`{c.stem}`" for c in C.CLIPS if c.train)
    + " (the Hamilton clip has several faces, shot changes and a microphone at the mouth). *engine plan "
    "as shipped* plans with the learned mouth trajectory that ships with the engine, fitted on every "
    "dev clip (`make mouth-model`): on these clips it is *not* a held-out number, nor are the hand-set "
    "constants, tuned while looking at the short clips. *rules alone* plans without the learned part. "
    "*learned trajectory refitted without the speaker* retrains that model (`benchmarks/mouth_model.py`, "
    "ridge chosen by an inner leave-one-clip-out) on the other speakers only and plans with it through "
    "`EngineConfig.mouth_model`: the shipped planner's held-out number. *viseme openings* is the "
    "coarticulation model with one "
    "opening per viseme, with the hand table and fitted by ridge regression (formerly `plan_eval "
    "--fit-openings`); a fit that does not apply to a window (no phones in non-English speech) says n/a. "
    "A new fit (say, phone → mouth trajectories learned from the dev clips) plugs in by adding a class "
    "with `fit(train)` and `predict(params, task)` to `benchmarks/fits.py:FITS`."
)

PAUSES = (
    f"Pauses are silent runs of ≥ {M.PAUSE_MIN_S * 1000:.0f} ms (energy gate {M.GATE_BELOW_LOUD_DB:.0f} dB "
    f"under the recording's 95th-percentile level on {M.GATE_HOP_S * 1000:.0f} ms hops), trailing silence "
    f"included, with {M.PAUSE_EDGE_FRAMES} frames left out at each edge. A pause frame is *at rest* when the "
    f"inner-lip gap ≤ the person's own rest level (the {M.REST_PERCENTILE:.0f}th percentile of their opening "
    f"in the source) + {M.REST_TOLERANCE_IOD} inter-ocular distances. The whole clip is driven in loop "
    "mode so the 8 s audio, with its 0.8 s pause and 1.7 s of trailing silence, is used in full."
)

SPEED = (
    "`videoretalking_4` (700x700, 30 fps, 6.6 s) scaled with PyAV/OpenCV to 480, 720 and 1080 px high and "
    "padded with black to 16:9 (852x480, 1280x720, 1920x1080), driven by its own audio. Every run is a "
    "fresh child process (`benchmarks/child.py`) timing the `generate` call alone; peak RSS is that "
    "process's `ru_maxrss` (imports and models included). The **floor** is one plain decode "
    "(`reperform.media.iter_frames`) into the engine's writer (`reperform.media.Mp4Writer`, same x264 "
    "settings, AAC) — what any generator must at least spend. RTF = wall time / output duration; "
    "min and median over the timed runs after one warm-up run. The 30 s and 60 s inputs are the 720p and "
    "1080p clips looped (picture and sound) to that length; they run once. On 6.6 s the fixed start-up "
    "costs (imports, loading Whisper, pocketsphinx and the face mesh, ~1 s of CPU; a server worker pays "
    "them once, not per job) weigh on every frame; 30 s is closer "
    "to real use. Frames are decoded once when the whole clip fits the engine's 512 MiB frame store (the "
    "6.6 s inputs), twice otherwise. Other helpers may share the 2 cores while this runs, so the median "
    "can be noisy; the min is the better estimate."
)

HEAD = (
    "'pose std' is the std of the output's own head pose read from the 3-D mesh's axes (eye line; "
    "forehead → base of the nose), mean over yaw/pitch/roll, the source's motion included (issue 5: 1.5–6° "
    "in head mode). Every other number is the pose *change* from the reference frame made from the same "
    "source frame, read from the pixels of rigid upper-face points (see the note under the per-clip table): "
    "lips/face modes must leave the head where it was (mean ≤ 0.5°); 'added std' is what head mode adds, and "
    "its angular speed is correlated with the driving speech envelope."
)


EMOTION = (
    "Face mode on each clip with its own audio, per emotion and temperature; each cell is the change of the "
    "clip-mean of a geometric action-unit proxy (in inter-ocular distances) from the input: lip-corner "
    "height above the mouth centre (AU12 up, AU15 down), cheek height (AU6), mean and inner brow height "
    "above the eyes (AU1/2 up, AU4 down), inner-brow gap (AU4 draws it in), eyelid opening (AU5/7), "
    "subnasale–upper-lip distance (AU9/10 shorten it) and nose-tip–chin distance (AU26). 'expected signs' "
    "checks issue 5's signature: happy corners+cheeks up; sad inner brows up, corners down; angry brows "
    "down and together; surprised brows up, eyes wider, jaw lower; disgusted nose–lip shorter."
)


def notes(have_identity: bool) -> str:
    """The measurement details that apply to every table."""
    identity = (
        "dlib's 128-d ResNet face descriptor (`dlib-bin` with the weights shipped in "
        "`face_recognition_models`), 5-point alignment inside a box from our mesh, every "
        f"{Q.IDENTITY_EVERY_N_FRAMES}th frame (at most {Q.IDENTITY_MAX_FRAMES} frames per output); the number "
        "is the mean Euclidean distance output vs baseline frame from the same source frame (dlib's "
        "same-person threshold is 0.6; a re-encode gives ~0.01–0.03)"
        if have_identity
        else "not measured: dlib / face_recognition_models are not installed"
    )
    return "\n".join([
        "- **Landmarks**: MediaPipe face detection (full-range model) picks the largest, most central face; "
        "the refined 478-point face mesh runs on a square crop around it upscaled to 384 px, so 90–210 px "
        "faces are measured as well as close-ups. This is independent of the engine's own face module.",
        "- **Mouth opening**: mean inner-lip gap over three pairs (13–14, 82–87, 312–317) divided by the "
        "inter-ocular distance (eye-corner midpoints).",
        "- **AV offset**: the output's mouth opening is cross-correlated with the driving audio's RMS "
        "envelope per video frame over ±15 frames; positive lag = the mouth moves after the sound. The target "
        "is |lag| ≤ 1 frame; the peak r shows how much the envelope explains at all.",
        f"- **Jitter**: mean |second difference| of landmarks over consecutive frames, in inter-ocular "
        f"distances; accelerations > {M.JITTER_OUTLIER_IOD} IOD (shot cuts, a tracker switching faces) are "
        "left out on both sides. Two numbers: the 16 *lip* points of the output's mesh, measured from the centroid of the same "
        "mesh's rigid points (the mouth trembling on the face; the mesh is the only reader of an edited "
        "mouth, and subtracting its rigid points removes its whole-mesh refits), over the same for the "
        "input frames; and 11 *rigid* points "
        "(eye corners, nose bridge and tip) over the do-nothing output's — each rigid point placed by the "
        "do-nothing frame's mesh and followed into the output frame by its pixels (Lucas-Kanade, checked "
        "both ways). The rigid points are not read from the output's own mesh: MediaPipe refits the whole "
        "mesh when the mouth or brows change, and that read as 15 % more eye-corner and nose jitter on a "
        "face-mode output whose nose pixels equal the lips-mode output's up to encoder noise.",
        f"- **PSNR outside the face**: per frame, the face region = convex hull of the mesh plus the jaw line "
        f"moved {M.MASK_NECK_FACE_HEIGHTS} face heights down (chin, throat), dilated by {M.MASK_DILATE_IOD} "
        "inter-ocular distances, union of the output's and the baseline's. The rest is compared with the "
        "do-nothing baseline — re-encoded with the same encoder and settings, so encoder noise is in both — "
        f"and averaged in dB per frame (identical frames count as {M.PSNR_IDENTICAL_DB:.0f} dB). Head mode moves the "
        "head, hair and neck by design: it is judged outside a head region instead (see the note under the "
        "per-clip table).",
        f"- **Identity**: {identity}.",
        "- A mode the engine does not implement yet (it raises `ModeNotImplemented`) is reported as 'not "
        "implemented'; any other failure is reported with its error class and message.",
    ])
