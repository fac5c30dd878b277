"""`auditkit privacy epsilon|noise`: the DP-SGD epsilon calculator and its inverse."""
from __future__ import annotations

import argparse

from auditkit.privacy.accounting import ACCOUNTANTS, epsilon_spent, noise_for_epsilon


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sample-rate", type=float, required=True,
                   help="Poisson sampling rate q = expected batch size / number of training rows, in (0, 1].")
    p.add_argument("--steps", type=int, required=True, help="Number of DP-SGD steps (epochs / q).")
    p.add_argument("--delta", type=float, required=True,
                   help="Delta: probability the epsilon guarantee fails; pick well below 1 / number of rows.")
    p.add_argument("--accountant", choices=ACCOUNTANTS, default="rdp", help="Privacy accountant (default rdp).")


def _epsilon(args: argparse.Namespace) -> int:
    eps = epsilon_spent(args.noise_multiplier, args.sample_rate, args.steps, delta=args.delta,
                        accountant=args.accountant)
    print(f"epsilon ({args.accountant}, noise_multiplier={args.noise_multiplier}, sample_rate={args.sample_rate}, "
          f"steps={args.steps}, delta={args.delta}): {eps!r}")
    return 0


def _noise(args: argparse.Namespace) -> int:
    sigma = noise_for_epsilon(args.epsilon, args.sample_rate, args.steps, delta=args.delta,
                              accountant=args.accountant)
    print(f"noise_multiplier ({args.accountant}, epsilon={args.epsilon}, sample_rate={args.sample_rate}, "
          f"steps={args.steps}, delta={args.delta}): {sigma!r}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `privacy epsilon` and `privacy noise`."""
    privacy = subparsers.add_parser("privacy", help="Differential-privacy calculators (epsilon, noise multiplier).",
                                    description="Differential-privacy calculators for DP-SGD (Opacus accountants).")
    sub = privacy.add_subparsers(dest="privacy_command", required=True)

    eps = sub.add_parser("epsilon", help="Epsilon spent by DP-SGD with a given noise multiplier.",
                         description="Print the epsilon spent; the last token of the output is the number.")
    eps.add_argument("--noise-multiplier", type=float, required=True,
                     help="Gaussian noise standard deviation divided by the clipping norm (sigma).")
    _common(eps)
    eps.set_defaults(func=_epsilon)

    noise = sub.add_parser("noise", help="Noise multiplier needed to stay within a target epsilon.",
                           description="Print the smallest noise multiplier meeting the target epsilon; "
                                       "the last token of the output is the number.")
    noise.add_argument("--epsilon", type=float, required=True, help="Target epsilon (> 0).")
    _common(noise)
    noise.set_defaults(func=_noise)
