"""Compact students trained on labels: scikit-learn text models and a tiny transformer built here.

- :class:`TfidfClassifier`: TF-IDF of word 1–2-grams and character 2–5-grams → logistic regression (classes
  balanced). Soft
  labels (class probabilities) are used by expanding each text into one weighted row per class.
- :class:`TokenTagger`: the NER counterpart without a CRF: per-token features (the word, its shape, affixes,
  capitalisation, neighbours ±2) → logistic regression over BIO tags, decoded into spans.
- :class:`TinyTransformer`: a WordPiece tokenizer trained with ``tokenizers`` on the training texts and a
  2-layer BERT (hidden 64) initialised at random — no hub weights — as a sequence classifier or a token
  classifier (BIO tags on word pieces, offsets mapped back to characters; each piece's case shape rides in
  BERT's token-type embedding, :func:`piece_shapes`). Trained through the one training
  loop (:func:`distill.train.loop.run`); soft labels through :func:`distill.losses.forward_kl`.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

from distill.label.spans import bio_tags, tags_to_spans, tokens


class TfidfClassifier:
    """TF-IDF (word 1–2-grams + character 2–5-grams) → logistic regression.

    Args:
        C: inverse regularisation strength of the logistic regression.
        seed: its random state.
    """

    def __init__(self, C: float = 4.0, seed: int = 0):
        self.C, self.seed = C, seed

    def fit(self, texts: list[str], labels: list[str], probs: list[dict] | None = None) -> TfidfClassifier:
        """Train on texts with hard labels, or with ``probs`` (soft labels) when given.

        Args:
            texts: the training texts.
            labels: their labels (used for the class set when ``probs`` is given).
            probs: per text {label: probability}; None: hard labels.

        Returns:
            self.
        """
        from scipy.sparse import vstack
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import FeatureUnion

        self.vec = FeatureUnion([
            ("w", TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True, lowercase=True)),
            ("c", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True))])
        X = self.vec.fit_transform(texts)
        # balanced: a few hundred skewed labels otherwise give a majority-class model
        self.model = LogisticRegression(C=self.C, max_iter=2000, random_state=self.seed, class_weight="balanced")
        if probs is None:
            self.model.fit(X, labels)
        else:
            classes = sorted({k for p in probs for k in p})
            rows, ys, ws = [], [], []
            for c in classes:
                rows.append(X)
                ys += [c] * X.shape[0]
                ws += [p.get(c, 0.0) for p in probs]
            self.model.fit(vstack(rows), ys, sample_weight=ws)
        return self

    def predict(self, texts: list[str]) -> list[str]:
        """Labels of texts.

        Args:
            texts: the texts.

        Returns:
            One label per text.
        """
        return [str(y) for y in self.model.predict(self.vec.transform(texts))]


def token_features(text: str, toks: list[tuple[int, int]], i: int) -> dict:
    """Features of token ``i``: its word, shape, affixes and capitalisation, and those of its neighbours.

    Args:
        text: the text.
        toks: its token offsets.
        i: the token's index.

    Returns:
        A feature dict for ``DictVectorizer``.
    """
    def word(j: int) -> str:
        return text[toks[j][0] : toks[j][1]] if 0 <= j < len(toks) else ("<s>" if j < 0 else "</s>")

    def shape(w: str) -> str:
        s = "".join("X" if c.isupper() else "x" if c.islower() else "d" if c.isdigit() else c for c in w)
        out = []
        for c in s:  # collapse runs: "Xxxxx" → "Xx"
            if not out or out[-1] != c:
                out.append(c)
        return "".join(out)

    w = word(i)
    f = {"bias": 1.0, "w=" + w.lower(): 1.0, "shape=" + shape(w): 1.0, "pre3=" + w[:3].lower(): 1.0,
         "suf3=" + w[-3:].lower(): 1.0, "title": float(w.istitle()), "upper": float(w.isupper()),
         "digit": float(any(c.isdigit() for c in w)), "first": float(i == 0)}
    for d in (-2, -1, 1, 2):
        v = word(i + d)
        f[f"{d}:w=" + v.lower()] = 1.0
        f[f"{d}:shape=" + shape(v)] = 1.0
        f[f"{d}:title"] = float(v.istitle())
    f["-1:w0=" + word(i - 1).lower() + "|" + w.lower()] = 1.0
    return f


class TokenTagger:
    """Per-token features → logistic regression over BIO tags (no CRF), decoded into entity spans.

    Args:
        C: inverse regularisation strength.
        seed: random state of the logistic regression.
    """

    def __init__(self, C: float = 4.0, seed: int = 0):
        self.C, self.seed = C, seed

    def fit(self, texts: list[str], spans: list[list[dict]]) -> TokenTagger:
        """Train on texts and their spans.

        Args:
            texts: the training texts.
            spans: per text its entity spans ({"start", "end", "type"}).

        Returns:
            self.
        """
        from sklearn.feature_extraction import DictVectorizer
        from sklearn.linear_model import LogisticRegression

        feats, tags = [], []
        for text, sp in zip(texts, spans, strict=True):
            toks = tokens(text)
            feats += [token_features(text, toks, i) for i in range(len(toks))]
            tags += bio_tags(text, sp, toks)
        self.vec = DictVectorizer()
        self.model = LogisticRegression(C=self.C, max_iter=2000, random_state=self.seed)
        self.model.fit(self.vec.fit_transform(feats), tags)
        return self

    def predict(self, texts: list[str]) -> list[list[dict]]:
        """Entity spans of texts.

        Args:
            texts: the texts.

        Returns:
            Per text its predicted spans.
        """
        toks_all = [tokens(t) for t in texts]
        feats = [token_features(t, toks, i) for t, toks in zip(texts, toks_all, strict=True) for i in range(len(toks))]
        tags = list(self.model.predict(self.vec.transform(feats))) if feats else []
        out, k = [], 0
        for t, toks in zip(texts, toks_all, strict=True):
            out.append(tags_to_spans(t, toks, tags[k : k + len(toks)]))
            k += len(toks)
        return out


def train_wordpiece(texts: list[str], vocab_size: int = 2000):
    """A WordPiece tokenizer trained on ``texts`` (cased, BERT pre-tokenisation, [CLS] … [SEP] template).

    Args:
        texts: the training texts.
        vocab_size: the vocabulary size.

    Returns:
        A ``tokenizers.Tokenizer``.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=special,
                                                              show_progress=False))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls),
                                                                                               ("[SEP]", sep)])
    return tok


def piece_shapes(text: str, enc) -> list[int]:
    """The case shape of each word piece's word, fed to the tiny BERT as its token type: 0 lower case or
    punctuation, 1 capitalised, 2 digits or a currency sign, 3 special tokens. A vocabulary trained on a few
    hundred texts has not seen most names; the shape is what lets the model tag an unseen capitalised word.

    Args:
        text: the encoded text.
        enc: its ``tokenizers`` encoding.

    Returns:
        One shape id per piece.
    """
    first: dict[int, int] = {}
    out = []
    for (s, e), w, special in zip(enc.offsets, enc.word_ids, enc.special_tokens_mask, strict=True):
        if special or w is None or s >= e:
            out.append(3)
            continue
        if w not in first:
            c = text[s]
            first[w] = 1 if c.isupper() else 2 if (c.isdigit() or c in "$€£¥") else 0
        out.append(first[w])
    return out


class _Recipe:
    """The tiny transformer's step: a seeded shuffle per epoch, one micro-batch per step, CE or forward KL."""

    def __init__(self, model, x, mask, shape, y, soft, batch: int, seed: int, optimizer, scheduler):
        self.model, self.x, self.mask, self.shape, self.y, self.soft = model, x, mask, shape, y, soft
        self.batch, self.seed, self.optimizer, self.scheduler = batch, seed, optimizer, scheduler
        self.per_epoch = max(1, math.ceil(len(x) / batch))

    def micro_batches(self, step: int) -> list:
        epoch, k = divmod(step, self.per_epoch)
        order = list(range(len(self.x)))
        random.Random(self.seed * 1_000_003 + epoch).shuffle(order)
        return [order[k * self.batch : (k + 1) * self.batch]]

    def loss(self, idx, step: int):
        import torch.nn.functional as F

        from distill.losses import forward_kl

        logits = self.model(input_ids=self.x[idx], attention_mask=self.mask[idx], token_type_ids=self.shape[idx]).logits
        if self.soft is not None:  # (B, C) teacher probabilities
            loss = forward_kl(logits, self.soft[idx].clamp_min(1e-8).log())
        else:
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), self.y[idx].reshape(-1), ignore_index=-100)
        return loss, {}

    def save(self, folder: Path) -> None:  # runs here are short and not checkpointed
        pass

    def load(self, folder: Path) -> None:
        pass


class TinyTransformer:
    """A tiny BERT built here (tokenizer trained on the texts, random init) as a sequence or token classifier.

    Args:
        task: "classify" (sequence classification) or "ner" (BIO token classification).
        labels: the classes, or the entity types.
        hidden: hidden size; ``layers`` and ``heads`` as in BERT.
        layers: transformer layers.
        heads: attention heads.
        max_len: most word pieces per text (longer texts are cut).
        vocab_size: WordPiece vocabulary size.
        epochs: passes over the training texts.
        batch_size: texts per step.
        lr: AdamW learning rate (linear decay to 0).
        seed: seed of the initialisation and the data order.
    """

    def __init__(self, task: str, labels: tuple[str, ...], *, hidden: int = 64, layers: int = 2, heads: int = 2,
                 max_len: int = 128, vocab_size: int = 500, epochs: int = 30, batch_size: int = 16,
                 lr: float = 2e-3, seed: int = 0):
        self.task, self.labels = task, tuple(labels)
        self.hidden, self.layers, self.heads, self.max_len, self.vocab_size = hidden, layers, heads, max_len, vocab_size
        self.epochs, self.batch_size, self.lr, self.seed = epochs, batch_size, lr, seed
        self.tags = (["O"] + [f"{p}-{t}" for t in labels for p in ("B", "I")]) if task == "ner" else list(labels)

    def _encode(self, texts: list[str]):
        import torch

        encs = self.tok.encode_batch(texts)
        L = min(self.max_len, max(len(e.ids) for e in encs))
        pad = self.tok.token_to_id("[PAD]")
        x = torch.full((len(texts), L), pad, dtype=torch.long)
        mask = torch.zeros((len(texts), L), dtype=torch.long)
        shape = torch.full((len(texts), L), 3, dtype=torch.long)
        for i, (text, e) in enumerate(zip(texts, encs, strict=True)):
            ids = e.ids[:L]
            x[i, : len(ids)] = torch.tensor(ids)
            mask[i, : len(ids)] = 1
            shape[i, : len(ids)] = torch.tensor(piece_shapes(text, e)[:L])
        return x, mask, shape, encs, L

    def fit(self, texts: list[str], targets: list, probs: list[dict] | None = None) -> TinyTransformer:
        """Train on texts and their labels (classification) or spans (NER).

        Args:
            texts: the training texts.
            targets: per text its label, or its list of spans.
            probs: classification soft labels ({label: probability} per text); None: hard labels.

        Returns:
            self.
        """
        import torch
        from accelerate import Accelerator
        from transformers import (
            BertConfig,
            BertForSequenceClassification,
            BertForTokenClassification,
        )

        from distill.train import loop

        torch.manual_seed(self.seed)
        self.tok = train_wordpiece(texts, self.vocab_size)
        x, mask, shape, encs, L = self._encode(texts)
        cfg = BertConfig(vocab_size=self.tok.get_vocab_size(), hidden_size=self.hidden, num_hidden_layers=self.layers,
                         num_attention_heads=self.heads, intermediate_size=4 * self.hidden,
                         max_position_embeddings=self.max_len, type_vocab_size=4, num_labels=len(self.tags),
                         pad_token_id=self.tok.token_to_id("[PAD]"))
        cls = BertForSequenceClassification if self.task == "classify" else BertForTokenClassification
        self.model = cls(cfg)
        soft = None
        if self.task == "classify":
            y = torch.tensor([self.tags.index(t) for t in targets])
            if probs is not None:
                soft = torch.tensor([[p.get(lab, 0.0) for lab in self.tags] for p in probs])
        else:
            y = torch.full((len(texts), L), -100, dtype=torch.long)
            for i, (text, sp, e) in enumerate(zip(texts, targets, encs, strict=True)):
                n = min(len(e.ids), L)
                offs = [tuple(o) for o in e.offsets[:n]]
                real = [j for j in range(n) if e.special_tokens_mask[j] == 0]
                tags = bio_tags(text, sp, [offs[j] for j in real])
                for j, t in zip(real, tags, strict=True):
                    y[i, j] = self.tags.index(t)
        acc = Accelerator(cpu=True)
        opt = torch.optim.AdamW(self.model.parameters(), lr=self.lr, weight_decay=0.01)
        per_epoch = max(1, math.ceil(len(texts) / self.batch_size))
        steps = per_epoch * self.epochs
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, 1 - s / steps))
        model, opt = acc.prepare(self.model, opt)
        recipe = _Recipe(model, x, mask, shape, y, soft, self.batch_size, self.seed, opt, sched)
        spec = loop.LoopSpec(steps=steps, desc=f"tiny transformer ({self.task})", max_grad_norm=1.0)
        loop.run(recipe, model=model, optimizer=opt, scheduler=sched, accelerator=acc, spec=spec, ckpt=None,
                 settings=None)
        self.model = acc.unwrap_model(model).eval()
        return self

    def parameters(self) -> int:
        """The model's parameter count.

        Returns:
            The number of parameters.
        """
        return sum(p.numel() for p in self.model.parameters())

    def predict(self, texts: list[str], batch: int = 64) -> list:
        """Labels (classification) or spans (NER) of texts.

        Args:
            texts: the texts.
            batch: texts per forward pass.

        Returns:
            One label, or one list of spans, per text.
        """
        import torch

        out = []
        for b in range(0, len(texts), batch):
            chunk = texts[b : b + batch]
            x, mask, shape, encs, L = self._encode(chunk)
            with torch.inference_mode():
                pred = self.model(input_ids=x, attention_mask=mask, token_type_ids=shape).logits.argmax(-1)
            for i, (text, e) in enumerate(zip(chunk, encs, strict=True)):
                if self.task == "classify":
                    out.append(self.tags[int(pred[i])])
                    continue
                n = min(len(e.ids), L)
                real = [j for j in range(n) if e.special_tokens_mask[j] == 0]
                offs = [tuple(e.offsets[j]) for j in real]
                out.append(tags_to_spans(text, offs, [self.tags[int(pred[i, j])] for j in real]))
        return out
