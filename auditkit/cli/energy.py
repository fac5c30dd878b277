"""`auditkit energy sources|regions|project|train`: what this machine can measure, grid intensity, projections."""
from __future__ import annotations

import argparse
import json

from auditkit.energy.carbon import DEFAULT_REGION, carbon_intensity, regions
from auditkit.energy.methods import METHODS
from auditkit.energy.projection import ACCELERATORS, estimate_training, project_deployment


def _print(args: argparse.Namespace, data: dict, lines: list[str]) -> int:
    print(json.dumps(data, indent=2) if args.json else "\n".join(lines))
    return 0


def _sources(args: argparse.Namespace) -> int:
    from auditkit.energy.meter import EnergyMeter
    from auditkit.energy.section import build_section

    with EnergyMeter(args.region, sample_interval_s=0.2) as meter:
        idle = meter.measure_idle(seconds=args.seconds)
        info = build_section(meter.report())["components"]
    data = {"components": info, "idle_w": idle.watts}
    lines = [f"{c}: {d['kind']} by {d['method']} - {d['detail']}; idle {idle.watts.get(c, 0.0):.2f} W "
             f"(interval x{d['uncertainty_factors'][0]:.2f}..x{d['uncertainty_factors'][1]:.2f})"
             for c, d in info.items()]
    return _print(args, data, lines)


def _regions(args: argparse.Namespace) -> int:
    rows = {code: {"country": name, "g_per_kwh": carbon_intensity(code).g_per_kwh} for code, name in regions().items()}
    return _print(args, rows, [f"{code}  {r['g_per_kwh']:7.1f} g/kWh  {r['country']}" for code, r in rows.items()])


def _project(args: argparse.Namespace) -> int:
    p = project_deployment(kwh_per_1k_predictions=args.kwh_per_1k, predictions_per_day=args.predictions_per_day,
                           region=args.region, pue=args.pue, days_per_year=args.days)
    return _print(args, p.to_dict(), [
        f"{p.predictions_per_day:,.0f} predictions/day x {p.kwh_per_1k_predictions:g} kWh per 1,000 x "
        f"{p.days_per_year:g} days x PUE {p.pue:g}",
        f"kWh per year: {p.kwh_per_year:.6g}",
        f"kg CO2e per year: {p.co2e_kg_per_year:.6g} ({p.region}, {p.carbon_intensity_g_per_kwh:.1f} g/kWh)"])


def _train(args: argparse.Namespace) -> int:
    e = estimate_training(params=args.params, tokens=args.tokens, accelerator=args.accelerator,
                          peak_tflops=args.peak_tflops, utilisation=args.utilisation, power_w=args.power_w,
                          n_accelerators=args.n_accelerators, pue=args.pue, region=args.region)
    a = e.accelerator
    return _print(args, e.to_dict(), [
        f"FLOPs = 6 x {e.params:.4g} params x {e.tokens:.4g} tokens = {e.flops:.4g}",
        f"{a.name}: {a.peak_tflops:g} TFLOPS peak ({a.precision}) x utilisation {a.utilisation:g} = "
        f"{a.sustained_tflops:g} TFLOPS sustained, {a.power_w:g} W  [{a.source}]",
        f"accelerator-hours: {e.accelerator_hours:.4g} (wall {e.wall_hours:.4g} h on {e.n_accelerators})",
        f"kWh: {e.kwh:.4g} (PUE {e.pue:g});  kg CO2e: {e.co2e_kg:.4g} ({e.region}, "
        f"{e.carbon_intensity_g_per_kwh:.1f} g/kWh)"])


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `energy sources`, `energy regions`, `energy project` and `energy train`."""
    energy = subparsers.add_parser("energy", help="Energy and carbon: sources, regions, projections.",
                                   description="Energy and carbon tools (offline; carbon data from codecarbon).")
    sub = energy.add_subparsers(dest="energy_command", required=True)

    def common(p: argparse.ArgumentParser, *, region: bool = True) -> None:
        if region:
            p.add_argument("--region", default=DEFAULT_REGION,
                           help="ISO 3166-1 alpha-3 country code for grid carbon intensity "
                                f"(default {DEFAULT_REGION}).")
        p.add_argument("--json", action="store_true", help="Print JSON instead of text.")

    src = sub.add_parser("sources", help="What this machine can measure (RAPL, NVML) or must estimate.",
                         description="Detect energy sources, measure idle power, and print each component's method. "
                                     "Methods: " + ", ".join(METHODS) + ".")
    src.add_argument("--seconds", type=float, default=2.0, help="Idle measurement length in seconds (default 2).")
    common(src)
    src.set_defaults(func=_sources)

    reg = sub.add_parser("regions", help="List region codes and their carbon intensity (g CO2e/kWh).",
                         description="Every ISO alpha-3 code in codecarbon's energy-mix data, with its intensity.")
    common(reg, region=False)
    reg.set_defaults(func=_regions)

    proj = sub.add_parser("project", help="Yearly kWh and CO2e of a deployment.",
                          description="kWh/year = kWh per 1,000 predictions x predictions/day / 1,000 x days x PUE.")
    proj.add_argument("--kwh-per-1k", type=float, required=True,
                      help="Measured kWh per 1,000 predictions (audit.json energy.kwh_per_1k_predictions).")
    proj.add_argument("--predictions-per-day", type=float, required=True, help="Expected predictions per day.")
    proj.add_argument("--pue", type=float, default=1.0, help="Data-centre PUE, >= 1 (default 1.0).")
    proj.add_argument("--days", type=float, default=365.0, help="Days of service per year (default 365).")
    common(proj)
    proj.set_defaults(func=_project)

    train = sub.add_parser("train", help="Training energy of a transformer from FLOPs (6 x params x tokens).",
                           description="Estimate training kWh and CO2e; every assumption can be overridden.")
    train.add_argument("--params", type=float, required=True, help="Number of model parameters, e.g. 1.1e8.")
    train.add_argument("--tokens", type=float, required=True, help="Number of training tokens, e.g. 2e10.")
    train.add_argument("--accelerator", choices=tuple(ACCELERATORS), default="A100",
                       help="Accelerator whose table figures to use (default A100).")
    train.add_argument("--peak-tflops", type=float, help="Override the accelerator's peak TFLOPS.")
    train.add_argument("--utilisation", type=float, help="Override the sustained fraction of peak, in (0, 1].")
    train.add_argument("--power-w", type=float, help="Override the average power per accelerator in watts.")
    train.add_argument("--n-accelerators", type=int, default=1, help="Number of accelerators (wall time only).")
    train.add_argument("--pue", type=float, default=1.0, help="Data-centre PUE, >= 1 (default 1.0).")
    common(train)
    train.set_defaults(func=_train)
