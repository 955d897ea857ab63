"""Several live teachers in one `distill lm train` run: routed per example, or mixed with weights.

* Routed (TRL's multi-teacher routing): each training example names its teacher in a ``teacher``
  field of the chat JSONL (an index into ``--teachers`` or one of its entries, as written there); the
  example's targets come from that teacher alone, so its loss is exactly the single-teacher loss of
  its own teacher.
* Mixed (``--teacher-weights``): every position's target is the weighted mixture of the teachers'
  tempered distributions, ``distill.losses.mix_teachers`` (exact at every temperature).

All teachers must share the student's tokenizer (the same check as one teacher).
"""

from __future__ import annotations

import torch

from distill.losses import mix_teachers


class TeacherSet:
    """The live teachers of a run and how an example's targets are made from them.

    Args:
        models: the teacher models (callables returning ``.logits``), in ``--teachers`` order.
        names: their specs as given (what a ``teacher`` field may name).
        weights: one mixing weight per teacher (mixed), or () (routed; one teacher: that teacher).
        temperature: the loss temperature, at which a mixture is exact.
    """

    def __init__(self, models: list, names: list[str], weights: tuple[float, ...] = (), temperature: float = 1.0):
        if weights and len(weights) != len(models):
            raise ValueError(f"--teacher-weights has {len(weights)} weights for {len(models)} teachers; give one "
                             "per teacher.")
        self.models, self.names, self.weights, self.temperature = models, names, tuple(weights), temperature

    @property
    def routed(self) -> bool:
        return len(self.models) > 1 and not self.weights

    def route_of(self, value, where: str) -> int:
        """The teacher index a data record's ``teacher`` field names.

        Args:
            value: the field's value: an index or one of the ``--teachers`` entries.
            where: the record, for the message ("file:line").

        Returns:
            The index into ``models``.

        Raises:
            ValueError: the value names no teacher of this run.
        """
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(self.models):
            return value
        if isinstance(value, str) and value in self.names:
            return self.names.index(value)
        raise ValueError(f"{where}: 'teacher' is {value!r}, which names none of --teachers {self.names} (give an "
                         f"index 0…{len(self.models) - 1} or one of them as written).")

    @torch.no_grad()
    def targets(self, ids: torch.Tensor, V: int, routes: torch.Tensor | None = None) -> torch.Tensor:
        """Teacher logits for a batch: (b, L, V) float32.

        Args:
            ids: (b, L) token ids.
            V: the shared vocabulary size.
            routes: (b,) int64 teacher index per example (routed runs); None otherwise.

        Returns:
            The routed teacher's logits per example, the mixture's logits (``mix_teachers``), or the one
            teacher's logits.
        """
        def logits(model, x):
            return model(x, use_cache=False).logits[..., :V].float()

        if len(self.models) == 1:
            return logits(self.models[0], ids)
        if self.weights:
            return mix_teachers([logits(m, ids) for m in self.models], temperature=self.temperature,
                                weights=list(self.weights))
        if routes is None:
            raise ValueError("a routed multi-teacher run needs each example's teacher (a 'teacher' field per record).")
        out = torch.empty((*ids.shape, V), dtype=torch.float32, device=ids.device)
        for i in sorted(set(routes.tolist())):  # sorted: the same order of teacher calls on every run
            rows = (routes == i).nonzero().squeeze(1)
            out[rows] = logits(self.models[i], ids[rows])
        return out
