"""Rating scales: a registry of the scales a study can use, with labels and bands."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Band:
    """A named run of scale points, e.g. 7-9 "critical"."""

    key: str
    label: str
    low: int
    high: int

    def __contains__(self, value: object) -> bool:
        return isinstance(value, int) and self.low <= value <= self.high


@dataclass(frozen=True)
class Scale:
    """An ordinal rating scale with integer points from ``low`` to ``high``.

    ``agree`` and ``disagree`` name the bands the consensus rules count in
    (7-9 and 1-3 on the GRADE scale).  "Unable to score" (UTS) is never a
    scale point; a study says whether it is offered.
    """

    key: str
    name: str
    low: int
    high: int
    labels: dict[int, str]
    bands: tuple[Band, ...]
    agree: str
    disagree: str
    explanation: str

    @property
    def points(self) -> range:
        return range(self.low, self.high + 1)

    @property
    def agree_band(self) -> Band:
        return self.band(self.agree)

    @property
    def disagree_band(self) -> Band:
        return self.band(self.disagree)

    def band(self, key: str) -> Band:
        for band in self.bands:
            if band.key == key:
                return band
        raise KeyError(key)

    def band_of(self, value: int) -> Band:
        for band in self.bands:
            if value in band:
                return band
        raise ValueError(f"{value} is not a point of the {self.name} scale")

    def label(self, value: int) -> str:
        return self.labels.get(value, str(value))

    @property
    def range_label(self) -> str:
        """The points as ``low-high``, e.g. ``1-9``."""
        return f"{self.low}-{self.high}"


GRADE_1_9 = Scale(
    key="grade-1-9",
    name="GRADE 1-9 importance",
    low=1,
    high=9,
    labels={
        1: "1 Not important",
        2: "2",
        3: "3",
        4: "4 Important but not critical",
        5: "5",
        6: "6",
        7: "7 Critical",
        8: "8",
        9: "9 Critical",
    },
    bands=(
        Band("low", "1-3 not important", 1, 3),
        Band("mid", "4-6 important but not critical", 4, 6),
        Band("high", "7-9 critical", 7, 9),
    ),
    agree="high",
    disagree="low",
    explanation=(
        "Rate how important each statement is, from 1 (not important) to 9 "
        "(critical). 1-3 means not important, 4-6 important but not "
        "critical, 7-9 critical."
    ),
)

AGREEMENT_1_9 = Scale(
    key="agreement-1-9",
    name="1-9 agreement",
    low=1,
    high=9,
    labels={
        1: "1 Strongly disagree",
        2: "2",
        3: "3",
        4: "4",
        5: "5 Neither agree nor disagree",
        6: "6",
        7: "7",
        8: "8",
        9: "9 Strongly agree",
    },
    # The same bands as GRADE, so the COMET, percent, IQR and RAND/UCLA rules read the
    # same on both 1-9 scales and a study can rate definitions on one and outcome
    # domains on the other.
    bands=(
        Band("low", "1-3 disagree", 1, 3),
        Band("mid", "4-6 unsure", 4, 6),
        Band("high", "7-9 agree", 7, 9),
    ),
    agree="high",
    disagree="low",
    explanation=(
        "Say how much you agree with each statement, from 1 (strongly disagree) to 9 "
        "(strongly agree). 1-3 means you disagree, 4-6 you are unsure, 7-9 you agree."
    ),
)

AGREE_5 = Scale(
    key="agree-5",
    name="5-point agreement",
    low=1,
    high=5,
    labels={
        1: "Strongly disagree",
        2: "Disagree",
        3: "Neither agree nor disagree",
        4: "Agree",
        5: "Strongly agree",
    },
    bands=(
        Band("low", "1-2 disagree", 1, 2),
        Band("mid", "3 neutral", 3, 3),
        Band("high", "4-5 agree", 4, 5),
    ),
    agree="high",
    disagree="low",
    explanation=(
        "Say how much you agree with each statement, from strongly disagree to strongly agree."
    ),
)

AGREE_7 = Scale(
    key="agree-7",
    name="7-point agreement",
    low=1,
    high=7,
    labels={
        1: "Strongly disagree",
        2: "Disagree",
        3: "Somewhat disagree",
        4: "Neither agree nor disagree",
        5: "Somewhat agree",
        6: "Agree",
        7: "Strongly agree",
    },
    bands=(
        Band("low", "1-3 disagree", 1, 3),
        Band("mid", "4 neutral", 4, 4),
        Band("high", "5-7 agree", 5, 7),
    ),
    agree="high",
    disagree="low",
    explanation=(
        "Say how much you agree with each statement, from strongly disagree to strongly agree."
    ),
)

YES_NO = Scale(
    key="yes-no",
    name="Yes / no (include / exclude)",
    low=1,
    high=2,
    labels={1: "No (exclude)", 2: "Yes (include)"},
    bands=(Band("low", "no", 1, 1), Band("high", "yes", 2, 2)),
    agree="high",
    disagree="low",
    explanation="Say whether each statement should be included (yes) or excluded (no).",
)

SCALES: dict[str, Scale] = {s.key: s for s in (GRADE_1_9, AGREEMENT_1_9, AGREE_5, AGREE_7,
                                                 YES_NO)}

# Short names accepted wherever a scale key is (the CLI's ``--scale 1-9``).
SCALE_ALIASES: dict[str, str] = {"1-9": "grade-1-9", "1-5": "agree-5", "1-7": "agree-7"}


def get_scale(key: str) -> Scale:
    """Return the registered scale ``key`` (or alias) or raise KeyError naming the known ones."""
    try:
        return SCALES[SCALE_ALIASES.get(key, key)]
    except KeyError:
        known = ", ".join([*sorted(SCALES), *sorted(SCALE_ALIASES)])
        raise KeyError(f"unknown scale {key!r}; known scales: {known}") from None
