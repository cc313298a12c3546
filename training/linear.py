"""Fitting a SentenceClassifier (assistant/classifier.py): logistic regression over unit-length
sentence vectors, its regularisation picked by five-fold cross-validated AUC, its threshold on the
out-of-fold scores so that at most a given share of the negatives that count would be called
positive. Seeded; seconds on CPU."""

from __future__ import annotations

import numpy as np

C_GRID = (0.3, 1.0, 3.0, 10.0, 30.0)


def fit_classifier(vectors: np.ndarray, positive: np.ndarray, embedding_model: str, max_false: float,
                   counted: np.ndarray | None = None, seed: int = 0):
    """(SentenceClassifier, figures). The threshold is the lowest at which at most ``max_false`` of
    the negatives ``counted`` marks (default: every negative; the others are still learnt from)
    would be called positive."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    from assistant.classifier import SentenceClassifier

    vectors = np.asarray(vectors, dtype=np.float32)
    vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    positive = np.asarray(positive, dtype=bool)
    counted = ~positive if counted is None else (np.asarray(counted, dtype=bool) & ~positive)
    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    tried = {}
    for c in C_GRID:
        learner = LogisticRegression(C=c, max_iter=5000, class_weight="balanced")
        scores = cross_val_predict(learner, vectors, positive, cv=folds, method="decision_function")
        tried[c] = (roc_auc_score(positive, scores), scores)
    c = max(C_GRID, key=lambda k: (tried[k][0], -k))  # the best AUC; on a tie the stronger regularisation
    auc, scores = tried[c]
    negatives = np.sort(scores[counted])[::-1]
    allowed = int(np.floor(max_false * len(negatives)))
    threshold = float(np.nextafter(negatives[allowed], np.inf))  # above the (allowed+1)-th highest
    learner = LogisticRegression(C=c, max_iter=5000, class_weight="balanced").fit(vectors, positive)
    model = SentenceClassifier(learner.coef_[0].astype(np.float32), float(learner.intercept_[0]), threshold,
                               embedding_model)
    figures = {"texts": int(len(positive)), "positive": int(positive.sum()), "C": c,
               "cv_auc": {str(k): round(float(v[0]), 3) for k, v in tried.items()},
               "threshold": round(threshold, 4),
               "cv_recall": f"{int((scores[positive] >= threshold).sum())}/{int(positive.sum())}",
               "cv_counted_negatives_positive": f"{int((scores[counted] >= threshold).sum())}/{int(counted.sum())}",
               "cv_other_negatives_positive": f"{int((scores[~positive & ~counted] >= threshold).sum())}/"
                                              f"{int((~positive & ~counted).sum())}"}
    return model, figures

