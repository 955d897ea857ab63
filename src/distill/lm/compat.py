"""Can these two models be distilled by their logits? Only if they share a tokenizer.

Logit distillation compares the teacher's and the student's probabilities of the *same
token id*. Different tokenizers make that comparison meaningless while still producing
numbers, the silent failure peers' users report (student ids fed to the teacher). So the
check is strict: identical vocabularies (token → id) and special tokens, or a refusal.
Padded embedding rows (a model vocab larger than the tokenizer's, e.g. 152,064 rows for
151,936 tokens) are fine: distillation uses the first ``len(tokenizer)`` logits of both.
"""

from __future__ import annotations

import hashlib
import json


class IncompatibleTokenizers(ValueError):
    """Teacher and student tokenize differently; logit distillation would be silently wrong."""


def tokenizer_fingerprint(tokenizer) -> str:
    """SHA-256 of the vocabulary (token → id, added tokens included) and the special tokens.

    Args:
        tokenizer: a Hugging Face tokenizer.

    Returns:
        Hex SHA-256 digest.
    """
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1])
    special = sorted((k, str(v)) for k, v in tokenizer.special_tokens_map.items())
    blob = json.dumps({"vocab": vocab, "special": special}, ensure_ascii=False).encode()
    return hashlib.sha256(blob).hexdigest()


def shared_vocab_size(teacher_tok, student_tok, teacher_rows: int, student_rows: int,
                      teacher_name: str = "teacher", student_name: str = "student") -> int:
    """The number of logits to compare, after checking that the tokenizers are the same.

    Args:
        teacher_tok: the teacher's tokenizer.
        student_tok: the student's tokenizer.
        teacher_rows: output rows of the teacher (``config.vocab_size``), which may exceed the
            tokenizer's size (padding for efficient matmuls).
        student_rows: output rows of the student, likewise.
        teacher_name: how messages name the teacher.
        student_name: how messages name the student.

    Returns:
        V, the tokenizer's size: the logits ``[..., :V]`` of both models index the same tokens.

    Raises:
        IncompatibleTokenizers: vocabularies differ (names both and what to do instead).
        ValueError: a model has fewer output rows than the tokenizer has tokens.
    """
    ft, fs = tokenizer_fingerprint(teacher_tok), tokenizer_fingerprint(student_tok)
    if ft != fs:
        raise IncompatibleTokenizers(
            f"the {teacher_name} tokenizer ({len(teacher_tok)} tokens, {ft[:12]}) and the {student_name} "
            f"tokenizer ({len(student_tok)} tokens, {fs[:12]}) differ, so their logits index different "
            "tokens and logit distillation would train on nonsense. Use a student built from the teacher "
            "(`distill lm student --from TEACHER`) or black-box distillation on the teacher's text."
        )
    n = len(teacher_tok)
    for name, rows in ((teacher_name, teacher_rows), (student_name, student_rows)):
        if rows < n:
            raise ValueError(f"the {name} model has {rows} output rows but its tokenizer has {n} tokens.")
    return n
