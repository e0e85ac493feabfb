"""What the next generation will use: profile, mode, and which cues are on (pure, no Textual)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from relaychat.core.controller import RelayOptions
from relaychat.core.cueset import load_cue_set
from relaychat.core.events import Mode, Role
from relaychat.core.profile import PairProfile

MODES: tuple[Mode, ...] = ("relay", "large", "small")


@dataclass
class ChatSettings:
    profile: PairProfile
    mode: Mode = "relay"
    max_tokens: int | None = None
    seed: int | None = None
    answer_model: Role | None = None
    cues: list[str] = field(default_factory=list)
    cue_source: str = ""
    disabled: set[str] = field(default_factory=set)
    projection_target: str | None = None  # the speedup panel's "projected on" cost model (settings)

    def __post_init__(self) -> None:
        if not self.cues:
            self.use_profile_cues()

    def use_profile_cues(self) -> None:
        self.cues = list(self.profile.cues)
        self.cue_source = self.profile.cue_file or f"profile {self.profile.name}"
        self.disabled = set()

    def set_profile(self, profile: PairProfile) -> None:
        self.profile = profile
        self.use_profile_cues()

    def load_cues(self, path: str | Path) -> int:
        """Replace the cue set by a file's (raises CueSetError); returns how many cues it has."""
        cue_set = load_cue_set(Path(path).expanduser())
        self.cues, self.cue_source, self.disabled = list(cue_set.cues), str(path), set()
        return len(self.cues)

    def cycle_mode(self) -> Mode:
        self.mode = MODES[(MODES.index(self.mode) + 1) % len(MODES)]
        return self.mode

    @property
    def enabled_cues(self) -> tuple[str, ...]:
        return tuple(c for c in self.cues if c not in self.disabled)

    def roles(self) -> list[Role]:
        return ["large", "small"] if self.mode == "relay" else [self.mode]

    def options(self) -> RelayOptions:
        """What the user chose; the relay (`ServerKeeper.relay`) adds the servers' tuning."""
        return RelayOptions(
            mode=self.mode,
            max_tokens=self.max_tokens,
            seed=self.seed,
            answer_model=self.answer_model,
            cues=self.enabled_cues,
        )

    def describe(self) -> str:
        cues = f"cues {len(self.enabled_cues)}/{len(self.cues)}" if self.mode == "relay" else "no cues"
        return f"{self.mode} · {self.profile.name} · {cues}"
