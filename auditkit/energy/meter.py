"""EnergyMeter: energy of each phase of an audit run (load, inference, explanations, training), net of idle power.

    meter = EnergyMeter(region="USA")           # sources auto-detected
    meter.measure_idle(seconds=3)               # idle baseline, reported separately
    with meter.phase("inference", predictions=n):
        ...
    report = meter.report()                     # EnergyReport; auditkit.energy.section turns it into audit.json's "energy"

A background thread polls every source every `sample_interval_s` seconds while a phase (or the idle
measurement) runs; every phase boundary polls too. A phase's energy per component is the difference of the
cumulative readings at its boundaries. With an idle baseline, each component's idle power x the phase's
duration is subtracted (floored at zero), so a shared machine's background load is not charged to the model.
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

from auditkit.energy.carbon import DEFAULT_REGION, CarbonIntensity, carbon_intensity
from auditkit.energy.methods import METHODS, overall_kind
from auditkit.energy.sources import EnergySource, detect_sources
from auditkit.errors import SettingsError

J_PER_KWH = 3.6e6

_NESTED = "Phase {0!r} started inside phase {1!r}: end one phase before starting the next (energy would count twice)."
_BAD_SECONDS = "Idle measurement needs seconds > 0 (got {0})."
_BAD_PREDICTIONS = "predictions must be >= 0 (got {0})."


@dataclass(frozen=True)
class ComponentInfo:
    """How one component's energy is obtained; `watts_per_cpu_second` when it is estimated from CPU time."""

    component: str
    method: str
    detail: str
    watts_per_cpu_second: float | None = None

    @property
    def kind(self) -> str:
        return METHODS[self.method].kind

    def interval(self, kwh: float) -> tuple[float, float]:
        m = METHODS[self.method]
        return kwh * m.low, kwh * m.high


@dataclass(frozen=True)
class IdleBaseline:
    """Idle power per component, measured before the run."""

    seconds: float
    watts: dict[str, float]

    @property
    def total_watts(self) -> float:
        return sum(self.watts.values())


@dataclass(frozen=True)
class PhaseEnergy:
    """Energy of one phase, per component, in joules: measured (gross) and the idle share subtracted."""

    name: str
    seconds: float
    predictions: int | None
    gross_j: dict[str, float]
    idle_j: dict[str, float]

    @property
    def net_j(self) -> dict[str, float]:
        return {c: max(0.0, j - self.idle_j.get(c, 0.0)) for c, j in self.gross_j.items()}

    @property
    def kwh(self) -> float:
        """Energy attributable to the phase: measured minus the idle baseline."""
        return sum(self.net_j.values()) / J_PER_KWH

    @property
    def kwh_gross(self) -> float:
        return sum(self.gross_j.values()) / J_PER_KWH

    def merged(self, other: "PhaseEnergy") -> "PhaseEnergy":
        """This phase and a later run of the same phase, added up."""
        preds = None if self.predictions is None and other.predictions is None else \
            (self.predictions or 0) + (other.predictions or 0)
        add = lambda a, b: {c: a.get(c, 0.0) + b.get(c, 0.0) for c in a.keys() | b.keys()}  # noqa: E731
        return PhaseEnergy(self.name, self.seconds + other.seconds, preds, add(self.gross_j, other.gross_j),
                           add(self.idle_j, other.idle_j))


@dataclass(frozen=True)
class EnergyReport:
    """The energy and carbon of an audit run, in joules per phase and component.

    `auditkit.energy.section.energy_result(report)` turns it into audit.json's `energy` section."""

    region: str
    carbon: CarbonIntensity
    components: tuple[ComponentInfo, ...]
    phases: tuple[PhaseEnergy, ...]
    idle: IdleBaseline | None
    overhead_seconds: float = 0.0
    samples: int = 0

    @property
    def kwh(self) -> float:
        """Total over phases (net of idle)."""
        return sum(p.kwh for p in self.phases)

    @property
    def co2e_kg(self) -> float:
        return self.carbon.co2e_kg(self.kwh)

    @property
    def method(self) -> str:
        """'measured', 'estimated' or 'partly measured' (per component in `components`)."""
        return overall_kind([c.kind for c in self.components])

    def phase(self, name: str) -> PhaseEnergy | None:
        return next((p for p in self.phases if p.name == name), None)

    @property
    def kwh_per_1k_predictions(self) -> float | None:
        """Inference phase kWh per 1,000 predictions; None without an inference phase with predictions."""
        inf = self.phase("inference")
        if inf is None or not inf.predictions:
            return None
        return inf.kwh / inf.predictions * 1000.0

    def interval_kwh(self, joules: dict[str, float]) -> tuple[float, float]:
        """The (low, high) kWh of per-component joules, from each component's method."""
        info = {c.component: c for c in self.components}
        lows, highs = zip(*(info[c].interval(j) for c, j in joules.items())) if joules else ((0.0,), (0.0,))
        return sum(lows) / J_PER_KWH, sum(highs) / J_PER_KWH

    def net_j(self) -> dict[str, float]:
        """Joules per component over every phase, net of idle."""
        total: dict[str, float] = {}
        for p in self.phases:
            for c, j in p.net_j.items():
                total[c] = total.get(c, 0.0) + j
        return total

    @property
    def kwh_interval(self) -> tuple[float, float]:
        return self.interval_kwh(self.net_j())


class EnergyMeter:
    """Measures the energy of named phases of a run. Not re-entrant: phases run one after another.

    `sources`: None detects this machine's sources (raises NoEnergySourceError when none works);
    `clock` and `sleep` are injectable for tests; `sample_interval_s=None` disables the background thread
    (then only phase boundaries are polled).
    """

    def __init__(self, region: str = DEFAULT_REGION, sources: Sequence[EnergySource] | None = None, *,
                 sample_interval_s: float | None = 0.2, clock: Callable[[], float] = time.perf_counter,
                 sleep: Callable[[float], None] = time.sleep):
        self.carbon = carbon_intensity(region)
        self.sources = list(detect_sources() if sources is None else sources)
        if not self.sources:
            raise SettingsError("EnergyMeter needs at least one source (or sources=None to detect them).")
        self._interval, self._clock, self._sleep = sample_interval_s, clock, sleep
        self._lock = threading.Lock()
        self._phases: list[PhaseEnergy] = []
        self._open: str | None = None  # name of the running phase
        self._idle: IdleBaseline | None = None
        self._overhead = 0.0
        self._samples = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._poll()

    @property
    def region(self) -> str:
        return self.carbon.region

    def _poll(self) -> tuple[float, dict[str, float]]:
        """Poll every source; cumulative joules per component at the returned time."""
        with self._lock:
            started = time.perf_counter()
            now = self._clock()
            totals: dict[str, float] = {}
            for s in self.sources:
                totals[s.component] = totals.get(s.component, 0.0) + s.poll(now)
            self._samples += 1
            self._overhead += time.perf_counter() - started
            return now, totals

    def _run_sampler(self) -> None:
        while not self._stop.wait(self._interval):
            self._poll()

    def _start_sampler(self) -> None:
        if self._interval is None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run_sampler, name="auditkit-energy-sampler", daemon=True)
        self._thread.start()

    def _stop_sampler(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None

    def measure_idle(self, seconds: float = 3.0) -> IdleBaseline:
        """Measure idle power per component over `seconds` (do nothing else meanwhile); used to net out phases."""
        if not seconds > 0:
            raise SettingsError(_BAD_SECONDS.format(seconds))
        if self._open is not None:
            raise SettingsError(_NESTED.format("idle", self._open))
        t0, j0 = self._poll()
        self._start_sampler()
        try:
            self._sleep(seconds)
        finally:
            self._stop_sampler()
        t1, j1 = self._poll()
        dt = t1 - t0
        self._idle = IdleBaseline(dt, {c: (j1[c] - j0.get(c, 0.0)) / dt if dt > 0 else 0.0 for c in j1})
        return self._idle

    @contextmanager
    def phase(self, name: str, *, predictions: int | None = None) -> Iterator[None]:
        """Measure the block as phase `name` ('load', 'inference', 'explanations', 'training', ...).

        `predictions`: how many predictions the block makes (inference), for kWh per 1,000 predictions.
        A phase run twice adds up.
        """
        if not name:
            raise SettingsError("A phase needs a name, e.g. 'inference'.")
        if predictions is not None and predictions < 0:
            raise SettingsError(_BAD_PREDICTIONS.format(predictions))
        if self._open is not None:
            raise SettingsError(_NESTED.format(name, self._open))
        start, start_j = self._poll()
        self._open = name
        self._start_sampler()
        try:
            yield
        finally:
            self._stop_sampler()
            end, end_j = self._poll()
            self._open = None
            self._record(PhaseEnergy(name, end - start, predictions,
                                     {c: end_j[c] - start_j.get(c, 0.0) for c in end_j},
                                     self._idle_share(end - start)))

    def _idle_share(self, seconds: float) -> dict[str, float]:
        return {c: w * seconds for c, w in self._idle.watts.items()} if self._idle else {}

    def _record(self, phase: PhaseEnergy) -> None:
        for i, p in enumerate(self._phases):
            if p.name == phase.name:
                self._phases[i] = p.merged(phase)
                return
        self._phases.append(phase)

    def set_predictions(self, name: str, predictions: int) -> None:
        """Set a finished phase's prediction count (when it is only known after the phase)."""
        if predictions < 0:
            raise SettingsError(_BAD_PREDICTIONS.format(predictions))
        for i, p in enumerate(self._phases):
            if p.name == name:
                self._phases[i] = PhaseEnergy(p.name, p.seconds, predictions, p.gross_j, p.idle_j)
                return
        raise SettingsError(f"No phase named {name!r} has been measured yet.")

    def report(self) -> EnergyReport:
        """The phases measured so far."""
        components: dict[str, ComponentInfo] = {}
        for s in self.sources:
            if s.component in components:  # two sources for one component: keep both details
                prev = components[s.component]
                components[s.component] = ComponentInfo(s.component, prev.method, f"{prev.detail}; {s.detail}",
                                                        prev.watts_per_cpu_second)
            else:
                components[s.component] = ComponentInfo(s.component, s.method, s.detail,
                                                        getattr(s, "watts_per_cpu_second", None))
        return EnergyReport(self.region, self.carbon, tuple(components.values()), tuple(self._phases),
                            self._idle, self._overhead, self._samples)

    def close(self) -> None:
        """Stop sampling and release the sources' handles."""
        self._stop_sampler()
        for s in self.sources:
            s.close()

    def __enter__(self) -> "EnergyMeter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
