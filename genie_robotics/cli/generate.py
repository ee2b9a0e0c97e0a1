"""Synthetic robot trajectories from the learned simulator, stored as RLDS for policy pre-training.

Each episode starts from a prompt frame (an image file, or the first frame of an episode of an
RLDS dataset) and is rolled out by the world model under a latent-action policy:

* ``uniform``: every latent action drawn uniformly from the |A| codes;
* ``sticky``: the first action uniform, then the previous action is kept with probability
  ``stick_probability`` and otherwise replaced by a uniformly drawn *different* action, so an
  action repeats exactly ``stick_probability`` of the time (longer, smoother motions);
* ``script``: a given list of actions, cycled; every episode starts at the beginning of the list.

An episode of ``steps`` steps holds ``steps`` frames: the prompt as the model sees it (encoded
and decoded, like every later frame) and ``steps - 1`` generated frames. Step ``t`` records the
frame and ``latent_action``, the action taken *after* that frame (RLDS convention: the action
at step t leads from observation t to observation t+1). The last step has no next frame; its
``latent_action`` is the action the policy would take next, so every step carries one.

With an action map each step also gets ``action``: the mean real action vector of its latent
action, i.e. the map applied to ``latent_action``; it is not a real robot action, just the best
constant guess per code. The map is the checkpoint's command map read backwards (the mean
labelled `world_vector` of each latent action) when the checkpoint has one, or one fitted with
`fit_action_map` on a labelled RLDS dataset given by `--action-map` (every action field).

Rollouts are generated ``batch`` episodes at a time; with one seed the output is reproducible
for a given batch size (the sampler's random stream is shared across a batch).
"""
from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from genie_robotics.core import options as flags
from genie_robotics.core.errors import GenieError
from genie_robotics.core.results import Result
from genie_robotics.sim.action_script import parse_script
from genie_robotics.sim.prompts import Prompt, load_prompts

POLICIES = ("uniform", "sticky", "script")


def latent_script(text: str) -> list[int]:
    """'0,0,3,5' -> [0, 0, 3, 5]: the script policy's actions (no resets inside an episode)."""
    script = parse_script(text)
    if "r" in script:
        raise GenieError("--script takes latent actions 0-7 only (no r)")
    return script


@dataclass
class GenerateOptions:
    """`genie-robotics generate`'s options (each field is its flag; see arguments.option)."""

    model: str | Path = flags.path_option(help="checkpoint directory", positional=True)
    prompts: str | Path = flags.path_option(help="prompt frames: a folder of PNG/JPEG files, one image, or an RLDS dataset "
                                            "(first frame of each episode)")
    out: str | Path = flags.path_option(help="RLDS dataset directory to write")
    episodes: int = flags.option(16, parse=flags.positive_int, help="episodes to generate")
    steps: int = flags.option(16, parse=flags.positive_int, help="frames per episode, prompt included")
    policy: str = flags.option("uniform", choices=POLICIES, help="latent-action policy")
    script: list[int] | None = flags.option(None, parse=flags.as_argument_type(latent_script),
                                            help="actions of the script policy, cycled (e.g. 0,0,3,3,5)")
    stick_probability: float = flags.option(0.8, parse=flags.probability,
                                            help="sticky policy: probability of repeating the previous action")
    overwrite: bool = flags.option(False, help="replace an existing dataset at --out")
    action_map: str | Path | None = flags.path_option(None, help="labelled RLDS dataset with true actions: fit latent -> "
                                                      "real action and write the mapped real action into every step "
                                                      "(default: the checkpoint's command map, when it has one)")
    action_map_episodes: int | None = flags.option(100, parse=flags.positive_int,
                                                   help="episodes of the labelled dataset used to fit the map")
    batch: int = flags.option(8, parse=flags.positive_int, help="episodes generated together")
    maskgit_steps: int | None = flags.maskgit_steps_option()
    temperature: float | None = flags.temperature_option()
    seed: int = flags.seed_option()
    device: str = flags.device_option()
    compile: bool = flags.option(False, help="run the dynamics model and decoder through torch.compile (CUDA graphs on "
                                             "a GPU); it compiles first, and on CPU at larger batches it gains little "
                                             "(bench/README.md)")
    progress: bool = flags.progress_option()


# --- latent-action policies ------------------------------------------------------------------
def latent_action_policy(
    name: str,
    rng: np.random.Generator,
    batch: int,
    steps: int,
    num_actions: int,
    script: Sequence[int] | None = None,
    stick_probability: float = 0.8,
) -> np.ndarray:
    """Latent actions int64 [batch, steps] of a policy (see the module docstring)."""
    _check_policy(name, script, stick_probability, num_actions)
    if name == "uniform":
        return rng.integers(0, num_actions, size=(batch, steps), dtype=np.int64)
    if name == "script":
        cycle = np.resize(np.asarray(script, dtype=np.int64), steps)
        return np.tile(cycle, (batch, 1))
    actions = np.empty((batch, steps), dtype=np.int64)
    actions[:, 0] = rng.integers(0, num_actions, size=batch)
    for t in range(1, steps):
        switch = rng.random(batch) >= stick_probability
        if num_actions > 1:
            # An offset in [1, K) moves to a uniformly chosen different action.
            offset = rng.integers(1, num_actions, size=batch)
            actions[:, t] = np.where(switch, (actions[:, t - 1] + offset) % num_actions, actions[:, t - 1])
        else:
            actions[:, t] = actions[:, t - 1]
    return actions


def _check_policy(name: str, script: Sequence[int] | None, stick_probability: float, num_actions: int | None) -> None:
    """One clear error for a bad policy setting; `num_actions` None skips the range check."""
    if name not in POLICIES:
        raise GenieError(f"unknown policy {name!r}; choose one of: {', '.join(POLICIES)}")
    if name == "script":
        if not script:
            raise GenieError("the script policy needs a non-empty list of latent actions (--script)")
        for a in script:
            integer = isinstance(a, (int, np.integer)) and not isinstance(a, bool)
            if not integer or a < 0 or (num_actions is not None and a >= num_actions):
                upper = f"[0, {num_actions})" if num_actions is not None else "non-negative integers"
                raise GenieError(f"script action {a!r} is not a latent action; expected integers in {upper}")
    elif script:
        raise GenieError(f"a script is only used by the script policy, not {name!r}")
    if name == "sticky" and not 0.0 <= stick_probability <= 1.0:
        raise GenieError(f"stick probability must be in [0, 1], got {stick_probability}")


# --- action map ------------------------------------------------------------------------------
@dataclass
class ActionMap:
    """Latent action -> real action vector: the mean real action seen with each latent code.

    This is the least-squares fit of actions on a one-hot encoding of the code; a code never
    seen gets the mean over all pairs. `action_keys` are the labelled dataset's action fields
    (sorted key paths), flattened and concatenated in that order as `open_rlds` reads them.
    """

    action_keys: list[tuple[str, ...]]
    means_KA: np.ndarray  # float32 [num_actions, action_dim]
    counts_K: np.ndarray  # int64 [num_actions]: (latent, real) pairs behind each mean

    source: str = ""  # what the means were fitted on

    @classmethod
    def from_command_map(cls, command_map) -> ActionMap:
        """A checkpoint's command map read backwards: each latent action's mean labelled command."""
        from genie_robotics.commands import COMMAND_KEY, GRIPPER_KEY

        keys = [(COMMAND_KEY,)] + ([(GRIPPER_KEY,)] if command_map.command_dim == 4 else [])
        return cls(keys, command_map.code_commands_AF.astype(np.float32), command_map.code_counts_A,
                   source=f"the checkpoint's command map ({command_map.fitted_on.get('dataset', '?')})")

    @property
    def action_dim(self) -> int:
        return int(self.means_KA.shape[1])

    def __call__(self, codes) -> np.ndarray:
        """Real action vectors float32 [..., action_dim] of integer latent actions [...]."""
        codes = np.asarray(codes)
        K = self.means_KA.shape[0]
        if codes.dtype.kind not in "iu" or (codes.size and (codes.min() < 0 or codes.max() >= K)):
            raise GenieError(f"latent actions must be integers in [0, {K}); got {codes.tolist()!r}")
        return self.means_KA[codes]


def fit_action_map(genie, labelled_dir: str | Path, max_episodes: int | None = 100, clip_frames: int = 2) -> ActionMap:
    """Fit an `ActionMap` from a labelled RLDS dataset with the frozen LAM of `genie`.

    The LAM infers the latent action of every transition t -> t+1 of the first `max_episodes`
    episodes (None: all); it is paired with the true action stored at step t, the one applied
    after frame t. Windows of `clip_frames` frames overlap by one frame so each transition is
    seen once; the default 2 covers every transition of episodes of any length, and a larger
    value (at most the model's context) gives the causal LAM more history.
    """
    from genie_robotics.analysis.action_statistics import per_code_means
    from genie_robotics.analysis.latent_labels import label_dataset
    from genie_robotics.data.rlds_reader import open_rlds

    src = open_rlds(labelled_dir)
    if src.action_dim == 0:
        raise GenieError(f"{labelled_dir} has no action features; --action-map needs a dataset with true actions")
    cfg = genie.cfg
    if not 2 <= clip_frames <= cfg.frames:
        raise GenieError(f"clip_frames must be in [2, {cfg.frames}] (the model's context), got {clip_frames}")
    if max_episodes is not None and max_episodes < 1:
        raise GenieError(f"max_episodes must be at least 1, got {max_episodes}")
    transitions, _ = label_dataset(genie, src, max_episodes, clip_frames, progress=False)
    if transitions is None:
        raise GenieError(f"{labelled_dir} has no episodes of at least 2 steps to fit an action map on")
    means, counts = per_code_means(transitions.codes_N, transitions.actions_NA, cfg.num_actions)
    return ActionMap(list(src.action_keys), means, counts, source=str(labelled_dir))


# --- dataset ---------------------------------------------------------------------------------
def generated_features(height: int, width: int, action_dim: int = 0):
    """tfds features of a generated episode; `action` only when there is an action map."""
    from genie_robotics.data.tf_env import tfds

    f = tfds().features
    step = {
        "observation": f.FeaturesDict({
            "image": f.Image(shape=(height, width, 3), dtype=np.uint8, encoding_format="png"),
        }),
        "latent_action": f.Scalar(dtype=np.int64),
        "reward": f.Scalar(dtype=np.float32),
        "is_first": f.Scalar(dtype=np.bool_),
        "is_last": f.Scalar(dtype=np.bool_),
        "is_terminal": f.Scalar(dtype=np.bool_),
    }
    if action_dim:
        step["action"] = f.Tensor(shape=(action_dim,), dtype=np.float32)
    return f.FeaturesDict({
        "steps": f.Dataset(step),
        "episode_metadata": f.FeaturesDict({
            "prompt_source": f.Text(),
            "prompt_episode": f.Text(),
            "policy": f.Text(),
            "seed": f.Scalar(dtype=np.int64),
            "model": f.Text(),
            "episode_id": f.Scalar(dtype=np.int64),
        }),
    })


def _episode(frames_THWC: np.ndarray, actions_T: np.ndarray, action_map: ActionMap | None, metadata: dict) -> dict:
    T = len(frames_THWC)
    mapped = action_map(actions_T) if action_map is not None else None
    steps = []
    for t in range(T):
        step = {
            "observation": {"image": frames_THWC[t]},
            "latent_action": np.int64(actions_T[t]),
            "reward": np.float32(0.0),
            "is_first": t == 0,
            "is_last": t == T - 1,
            "is_terminal": False,  # cut by length; the simulated task never ends
        }
        if mapped is not None:
            step["action"] = mapped[t]
        steps.append(step)
    return {"steps": steps, "episode_metadata": metadata}


def _rollouts(world, prompts: list[Prompt], actions_ET: np.ndarray, batch: int, bar,
              fixed_batch: bool = False) -> Iterator[tuple[int, np.ndarray]]:
    """(episode index, frames uint8 [T, H, W, 3]) of every episode, `batch` rollouts at a time.
    `fixed_batch`: a short last batch is filled up with repeated episodes (generated, not yielded),
    so a compiled model sees one batch size and compiles once."""
    E, T = actions_ET.shape
    batch = min(batch, E)
    for start in range(0, E, batch):
        count = min(batch, E - start)
        idx = np.arange(start, start + (batch if fixed_batch else count)) % E
        frames = [world.reset(np.stack([prompts[i % len(prompts)].image for i in idx]))]
        for t in range(T - 1):  # the last step's action is recorded, not applied
            frames.append(world.step(actions_ET[idx, t]))
            bar.update(count)
        frames_BTHWC = np.stack(frames, axis=1)
        for b, i in enumerate(idx[:count]):
            yield int(i), frames_BTHWC[b]


def _check_options(opts: GenerateOptions) -> None:
    """Everything that can be checked before loading a model; also refuses an existing output."""
    from genie_robotics.data.rlds_writer import check_output_dir

    if opts.episodes < 1 or opts.steps < 2:
        raise GenieError(f"need at least 1 episode of at least 2 steps, got {opts.episodes} x {opts.steps}")
    if opts.batch < 1:
        raise GenieError(f"batch must be at least 1, got {opts.batch}")
    _check_policy(opts.policy, opts.script, opts.stick_probability, None)
    out = Path(opts.out).resolve()
    for label, other in (("--prompts", opts.prompts), ("--action-map", opts.action_map)):
        source = None if other is None else Path(other).resolve()
        if source is not None and (source == out or out in source.parents):  # --overwrite would delete it
            raise GenieError(f"output directory {opts.out} would replace the {label} data {other}; "
                             "choose another --out")
    check_output_dir(Path(opts.out), opts.overwrite)


@dataclass(frozen=True)
class ActionMapSummary(Result):
    """The action map written into a generated dataset (`GenerateResult.action_map`)."""

    dataset: str  # what it was fitted on
    action_keys: list[str]
    action_dim: int
    pairs_per_latent_action: list[int]


@dataclass(frozen=True, kw_only=True)
class GenerateResult(Result):
    """What `generate` wrote; `to_json()` is what `genie-robotics generate --json` prints."""

    out: str
    model: str
    episodes: int
    steps: int
    generated_frames: int
    frames_per_s: float
    policy: str
    seed: int
    prompts: int
    prompt_source: str
    latent_action_counts: list[int]
    action_map: ActionMapSummary | None
    seconds: float


def generate(opts: GenerateOptions) -> GenerateResult:
    """Roll out the world model from prompt frames and write the episodes as an RLDS dataset.

    Returns a summary (paths, counts, speed, latent-action histogram, the action map's counts).
    """
    from genie_robotics.data.rlds_writer import write_rlds
    from genie_robotics.sim.memory import check_worlds_fit
    from genie_robotics.sim.world_model import WorldModel

    t0 = time.time()
    _check_options(opts)
    world = WorldModel.from_checkpoint(opts.model, device=opts.device, compile=opts.compile, maskgit_steps=opts.maskgit_steps,
                                       temperature=opts.temperature, seed=opts.seed)
    cfg = world.cfg
    check_worlds_fit(cfg, min(opts.batch, opts.episodes), "--batch", world.backend.world_chunk)  # before any rollout allocates
    _check_policy(opts.policy, opts.script, opts.stick_probability, cfg.num_actions)
    prompts = load_prompts(opts.prompts, cfg.height, cfg.width, limit=opts.episodes)
    action_map = None
    if opts.action_map is not None:
        action_map = fit_action_map(world.genie, opts.action_map, max_episodes=opts.action_map_episodes)
    elif world.command_map is not None:  # the checkpoint's own map: each latent action's mean command
        action_map = ActionMap.from_command_map(world.command_map)

    rng = np.random.default_rng(opts.seed)
    actions_ET = latent_action_policy(opts.policy, rng, opts.episodes, opts.steps, cfg.num_actions,
                                      opts.script, opts.stick_probability)
    generated = opts.episodes * (opts.steps - 1)
    model_path = str(Path(opts.model))

    def episodes():
        with tqdm(total=generated, desc="generate", unit="frame", disable=not opts.progress) as bar:
            for i, frames in _rollouts(world, prompts, actions_ET, opts.batch, bar, fixed_batch=opts.compile):
                prompt = prompts[i % len(prompts)]
                metadata = {"prompt_source": prompt.source, "prompt_episode": prompt.episode, "policy": opts.policy,
                            "seed": opts.seed, "model": model_path, "episode_id": i}
                yield _episode(frames, actions_ET[i], action_map, metadata)

    description = (
        f"{opts.episodes} episodes x {opts.steps} steps generated by the Genie world model {model_path} "
        f"({opts.policy} latent-action policy, seed {opts.seed}) from {len(prompts)} prompt frames of {opts.prompts}. "
        "latent_action at step t is the action taken after frame t (the last step's is the action that would follow)."
    )
    if action_map is not None:
        keys = ", ".join("/".join(k) or "action" for k in action_map.action_keys)
        description += (f" action = mean real action of the latent action, fitted on {action_map.source} "
                        f"(fields {keys}, flattened in that order).")
    start = time.time()
    features = generated_features(cfg.height, cfg.width, action_map.action_dim if action_map else 0)
    out = write_rlds(opts.out, "genie_generated", features, episodes(), description=description,
                     overwrite=opts.overwrite)
    seconds = time.time() - start
    return GenerateResult(
        out=str(out),
        model=model_path,
        episodes=opts.episodes,
        steps=opts.steps,
        generated_frames=generated,
        frames_per_s=round(generated / max(seconds, 1e-9), 2),
        policy=opts.policy,
        seed=opts.seed,
        prompts=len(prompts),
        prompt_source=str(opts.prompts),
        latent_action_counts=np.bincount(actions_ET.ravel(), minlength=cfg.num_actions).tolist(),
        action_map=None if action_map is None else ActionMapSummary(
            dataset=action_map.source,
            action_keys=["/".join(k) for k in action_map.action_keys],
            action_dim=action_map.action_dim,
            pairs_per_latent_action=action_map.counts_K.tolist(),
        ),
        seconds=round(time.time() - t0, 1),
    )
