"""The design space of the blog post's model, around its own choices (the post's five suspects: conv
layers per block, number of blocks, filters, batch-norm placement, dropout, dense width), for
`tune`. Plain data and arithmetic: no framework, so the tuner's bookkeeping and the catalogue read
it without building anything; `original.build_original` builds a point of it.
"""

from __future__ import annotations

BATCHNORM_PLACES = ("every", "block", "none")

# The post's own suspects as a search space, kept as data (the tuner turns each entry into a
# keras-tuner hyperparameter): name -> (values, the post's value), values listed smallest first.
# Filters: block b's first conv has first_filters scaled by first_filters_growth**b; its other
# convs have `filters` scaled by filters_growth**b. The post: 128/64/32 first, 20 after.
SEARCH_SPACE = {
    "blocks": ((2, 3, 4), 3),
    "convs_per_block": ((1, 2, 3, 4), 3),
    "first_filters": ((16, 32, 64, 128, 256), 128),
    "first_filters_growth": (("halve", "constant", "double"), "halve"),
    "filters": ((16, 20, 32, 64, 128, 256), 20),
    "filters_growth": (("constant", "double"), "constant"),
    "batchnorm": (BATCHNORM_PLACES, "every"),
    "head_batchnorm": ((True, False), True),
    "dropout": ((0.0, 0.1, 0.2, 0.25, 0.3, 0.4, 0.5), 0.25),
    "dense_units": ((64, 90, 128, 256, 512), 90),
    "learning_rate": ((3e-4, 1e-3, 3e-3), 1e-3),  # recipe, not builder
    "batch_size": ((64, 128, 150, 256), 150),  # recipe, not builder
}
POST_POINT = {name: default for name, (_, default) in SEARCH_SPACE.items()}
RECIPE_KEYS = ("learning_rate", "batch_size")
_GROWTH = {"halve": 0.5, "constant": 1.0, "double": 2.0}


def builder_options(values: dict) -> dict:
    """Builder keyword arguments for one point of SEARCH_SPACE (recipe entries are left out)."""
    unknown = set(values) - set(SEARCH_SPACE)
    if unknown:
        raise ValueError(f"unknown hyperparameters {sorted(unknown)}; the space has {sorted(SEARCH_SPACE)}")
    v = {**POST_POINT, **values}
    filters = tuple(
        tuple(max(8, round((v["first_filters"] if c == 0 else v["filters"])
                           * _GROWTH[v["first_filters_growth"] if c == 0 else v["filters_growth"]] ** b))
              for c in range(v["convs_per_block"]))
        for b in range(v["blocks"]))
    return {"filters": filters, "batchnorm": v["batchnorm"], "head_batchnorm": bool(v["head_batchnorm"]),
            "dropout": float(v["dropout"]), "dense_units": int(v["dense_units"])}
