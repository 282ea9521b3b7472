"""Loss-curve PNG for a training run (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["plot_loss_curves"]


def plot_loss_curves(
    history: list[dict],
    path: str | Path,
    *,
    title: str = "",
    train_curve: list[tuple[int, float]] | None = None,
    ylabel: str = "pinball loss (z-units)",
) -> Path:
    """Plot train and validation pinball loss against the optimiser step.

    ``history`` rows are ``{"step", "train_loss", "val_loss", "lr"}`` (``val_loss`` may be
    None when there is no validation split); ``train_curve`` (step, loss) pairs, when
    given, draw the training loss at a finer grain than the evaluations. Returns the path.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    steps = [r["step"] for r in history]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    try:
        if train_curve:
            ax.plot(*zip(*train_curve), label="train", color="tab:blue", linewidth=1, alpha=0.8)
        else:
            ax.plot(steps, [r["train_loss"] for r in history], label="train", color="tab:blue")
        val = [(r["step"], r["val_loss"]) for r in history if r.get("val_loss") is not None]
        if val:
            ax.plot(*zip(*val), label="validation", color="tab:orange", marker="o", markersize=3)
            best = min(val, key=lambda sv: sv[1])
            ax.axvline(best[0], color="tab:orange", linestyle=":", linewidth=1, label=f"best (step {best[0]})")
        ax.set_xlabel("optimiser step")
        ax.set_ylabel(ylabel)
        ax.set_title(title or "training loss")
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)
    return path
