"""The model registry: which models exist, their features, reference profile and alert rules.

Pure: frozen pydantic models validated from plain data (the ``[models.*]`` tables of the
config file, which :mod:`stream.settings` reads). Nothing here touches a file, Kafka or Redis.
One module per table: :mod:`.features`, :mod:`.references`, :mod:`.rules` (alerts, joint),
:mod:`.labels`, and :mod:`.models` (``ModelSpec``, ``Catalog``) that holds them together.

TOML shape, short and long feature forms::

    [models.fraud-v3]
    prediction = "numeric"                 # or { name = "score", kind = "numeric" }

    [models.fraud-v3.features]
    amount = "numeric"
    n_items = { kind = "numeric", seasonal = false, thresholds = { psi = 0.3 } }
    country = "categorical"

>>> spec = ModelSpec.model_validate(
...     {"name": "fraud-v3", "prediction": "numeric",
...      "features": {"amount": "numeric", "country": "categorical"}})
>>> spec.numeric_features, spec.categorical_features
(('amount', 'prediction'), ('country',))
>>> spec.kind_of("country")
'categorical'
"""

from __future__ import annotations

from stream.catalog.features import FeatureSpec, metric_names
from stream.catalog.labels import LabelSpec
from stream.catalog.models import PREDICTION_KEY, Catalog, ModelSpec
from stream.catalog.references import FileReference, RedisReference, ReferenceSpec, TopicReference
from stream.catalog.rules import JOINT_MEMBER, AlertRules, JointRules, Severity

__all__ = [
    "PREDICTION_KEY",
    "AlertRules",
    "Catalog",
    "FeatureSpec",
    "FileReference",
    "JOINT_MEMBER",
    "JointRules",
    "LabelSpec",
    "ModelSpec",
    "RedisReference",
    "ReferenceSpec",
    "Severity",
    "TopicReference",
    "metric_names",
]
