"""The latent truth of one synthetic eye: what the renderer draws and the report writer describes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EyeFindings:
    """Ground truth for one eye.

    keys: positive category keys in knowledge-base order (["normal"] when nothing abnormal).
    dr_stage: Chinese 6-stage DR scale, 0 = no DR, 1..6 otherwise.
    cup_disc_ratio: vertical C/D; > 0.5 exactly when "large_optic_cup" is in keys.
    av_ratio: artery/vein calibre ratio; < 2/3 exactly when "thin_arteries" is in keys.
    others_term: the rare-finding id of the knowledge base (its English name, shared by every
        language file) or None.
    severity: 0..1, scales lesion count/size/contrast (low = subtle).
    """

    keys: tuple[str, ...]
    dr_stage: int = 0
    cup_disc_ratio: float = 0.3
    av_ratio: float = 0.7
    others_term: str | None = None
    severity: float = 0.5
