"""The objectives that weigh the natural and the adversarial cross-entropy: `natural`, `mixed`
(the paper's) and `madry` (PGD adversarial training, Madry et al. 2018)."""

from __future__ import annotations

import torch

from robust_tickets.objectives.base import OBJECTIVES, Objective


@OBJECTIVES.add
class Natural(Objective):
    """The natural batch's cross-entropy alone (natural training)."""

    name = "natural"


@OBJECTIVES.add
class Mixed(Objective):
    """The paper's: 0.5 * CE(natural) + 0.5 * CE(adversarial), the attack on the labels
    `attack_labels` chooses (the paper's `predicted`, through CleverHans)."""

    name = "mixed"
    natural_weight = 0.5
    adversarial_weight = 0.5
    adversarial = True


@OBJECTIVES.add
class Madry(Objective):
    """Madry et al. (2018): CE(adversarial) alone, the attack ascending the loss of the TRUE
    labels whatever `attack_labels` says (their min-max problem is over the true labels);
    `attack_labels` still chooses the labels of the evaluation during training, so a run's
    measured accuracies mean what they mean for `mixed`."""

    name = "madry"
    natural_weight = 0.0
    adversarial_weight = 1.0
    adversarial = True
    labels_from_logits = False

    def attack_labels(self, y: torch.Tensor, logits: torch.Tensor | None) -> torch.Tensor:
        return y  # Madry et al. attack the true labels
