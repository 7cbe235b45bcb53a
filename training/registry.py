"""Model registry in `<workdir>/models/<model_id>/`: LightGBM's native text format plus metadata.json.

No pickle or joblib: every booster is written with `booster.save_model` (text) and read back with
`lgb.Booster(model_file=...)` when first asked for (serving compiles the text itself, without LightGBM); the
move-size forecast's calibration, tail and reference are plain numbers in the metadata ("move_size"). A model
folder is written under a temporary name and moved into place with one `os.replace`, so a reader never sees a
half-written model.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ivcrush.errors import IvcrushError
from ivcrush.training.move_size import MoveSizeModel
from ivcrush.training.train import TrainedModels

if TYPE_CHECKING:
    import lightgbm as lgb

METADATA = "metadata.json"
PACKAGES = ("lightgbm", "pandas", "numpy", "feast", "scipy")


class RegistryError(IvcrushError):
    """No model could be registered or loaded; the message says why."""


def model_digest(texts: Mapping[str, str]) -> str:
    """The digest of a model's booster text models that ends its model id (what `register` wrote)."""
    return hashlib.sha256("".join(texts[name] for name in sorted(texts)).encode()).hexdigest()[:8]


@dataclass(frozen=True)
class TextModel:
    """One registered booster's text model, as `booster.model_to_string()` gives it (what its file was written
    from), read without LightGBM."""

    text: str

    def model_to_string(self) -> str:
        return self.text


class StoredBoosters(Mapping[str, "lgb.Booster"]):
    """A registered model's boosters by name, each read into a `lgb.Booster` (importing LightGBM) the first time
    it is asked for; `text_models()` gives their text models without LightGBM (what serving compiles), checked
    against the digest in the model id."""

    def __init__(self, model_id: str, files: Mapping[str, Path]) -> None:
        self.model_id = model_id
        self._files = dict(files)
        self._loaded: dict[str, lgb.Booster] = {}

    def _unreadable(self, name: str, why: object) -> RegistryError:
        return RegistryError(
            f"model {self.model_id}: booster file {self._files[name]} cannot be read ({why}); run `ivcrush train`"
        )

    def text_models(self) -> dict[str, TextModel]:
        """Every booster's text model; RegistryError where a file is missing, unreadable, or not the text
        registered (truncated, changed)."""
        texts = {}
        for name, path in self._files.items():
            try:
                texts[name] = path.read_text()
            except (OSError, UnicodeDecodeError) as exc:
                raise self._unreadable(name, exc) from exc
        digest = model_digest(texts)
        if not self.model_id.endswith(f"-{digest}"):
            raise RegistryError(
                f"model {self.model_id}: its booster files in {next(iter(self._files.values())).parent} are not "
                f"the ones registered (their digest is {digest}: truncated or changed); run `ivcrush train`"
            )
        return {name: TextModel(text) for name, text in texts.items()}

    def __getitem__(self, name: str) -> lgb.Booster:
        booster = self._loaded.get(name)
        if booster is None:
            import lightgbm as lgb  # here, not at the top: serving predicts from the text models

            try:
                booster = self._loaded[name] = lgb.Booster(model_file=str(self._files[name]))
            except lgb.basic.LightGBMError as exc:
                raise self._unreadable(name, exc) from exc
        return booster

    def __contains__(self, name: object) -> bool:  # Mapping's would load the booster
        return name in self._files

    def __iter__(self) -> Iterator[str]:
        return iter(self._files)

    def __len__(self) -> int:
        return len(self._files)


@dataclass
class LoadedModel:
    """A registered model read back: its boosters (by name), features, move-size calibration and metadata."""

    model_id: str
    boosters: Mapping[str, lgb.Booster]
    features: list[str]
    move_size: MoveSizeModel
    metadata: dict[str, Any] = field(default_factory=dict)  # metadata.json as read back

    @property
    def verdicts(self) -> dict[str, dict[str, object]]:
        return dict(self.metadata.get("metrics", {}).get("verdicts", {}))


def models_dir(workdir: Path) -> Path:
    return Path(workdir) / "models"


def _versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def _service_version(name: str) -> int | None:
    tail = name.rsplit("_v", 1)
    return int(tail[1]) if len(tail) == 2 and tail[1].isdigit() else None


def register(
    workdir: Path,
    models: TrainedModels,
    *,
    feature_service: str,
    data_fingerprint: dict[str, object],
    metrics: dict[str, object] | None = None,
    extra: dict[str, object] | None = None,
) -> str:
    """Write the models and their metadata atomically; return the new model_id."""
    created = datetime.now(UTC)
    texts = {name: booster.model_to_string() for name, booster in models.boosters.items()}
    model_id = f"{created:%Y%m%dT%H%M%S%f}-{model_digest(texts)}"
    root = models_dir(workdir)
    root.mkdir(parents=True, exist_ok=True)
    temporary = root / f".tmp-{model_id}"
    temporary.mkdir()
    try:
        for name, booster in models.boosters.items():
            booster.save_model(str(temporary / f"{name}.txt"))
        metadata = {
            "model_id": model_id,
            "created_at": created.isoformat(),
            "feature_service": {"name": feature_service, "version": _service_version(feature_service)},
            "features": models.features,
            "models": {name: f"{name}.txt" for name in models.boosters},
            "move_size": models.move_size.to_dict(),
            "notes": models.notes,
            "training_window": models.training,
            "data_fingerprint": data_fingerprint,
            "metrics": metrics or {},
            "packages": _versions(),
            "format": "LightGBM text model (booster.save_model); no pickle",
            **(extra or {}),
        }
        (temporary / METADATA).write_text(json.dumps(metadata, indent=2, default=str))
        os.replace(temporary, root / model_id)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    return model_id


def list_models(workdir: Path) -> list[dict[str, object]]:
    """Every registered model's summary, oldest first."""
    root = models_dir(workdir)
    if not root.is_dir():
        return []
    out = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        path = folder / METADATA
        if not path.is_file():
            continue
        metadata = json.loads(path.read_text())
        verdicts = metadata.get("metrics", {}).get("verdicts", {})
        out.append(
            {
                "model_id": metadata["model_id"],
                "created_at": metadata["created_at"],
                "feature_service": metadata["feature_service"],
                "build_id": metadata["data_fingerprint"].get("build_id"),
                "training_rows": metadata["training_window"].get("rows"),
                "last_outcome_known_at": metadata["training_window"].get("last_outcome_known_at"),
                "models": sorted(metadata["models"]),
                "skill": {name: verdict.get("skill") for name, verdict in verdicts.items()},
                "summary": [verdict.get("sentence") for verdict in verdicts.values()],
                "path": str(folder),
            }
        )
    return sorted(out, key=lambda m: (m["created_at"], m["model_id"]))


def load_model(workdir: Path, model_id: str) -> LoadedModel:
    folder = models_dir(workdir) / model_id
    path = folder / METADATA
    if not path.is_file():
        raise RegistryError(f"no model {model_id} in {models_dir(workdir)}")
    metadata = json.loads(path.read_text())
    if "move_size" not in metadata:
        raise RegistryError(
            f"model {model_id} has no calibrated move-size forecast (registered before it existed); run `ivcrush train`"
        )
    return LoadedModel(
        model_id=model_id,
        boosters=StoredBoosters(model_id, {name: folder / file for name, file in metadata["models"].items()}),
        features=list(metadata["features"]),
        move_size=MoveSizeModel.from_dict(metadata["move_size"]),
        metadata=metadata,
    )


def load_latest(workdir: Path) -> LoadedModel:
    """The newest registered model, or a RegistryError telling the user to run `ivcrush train`."""
    models = list_models(workdir)
    if not models:
        raise RegistryError(f"no model registered in {models_dir(workdir)}; run `ivcrush train` first")
    return load_model(workdir, str(models[-1]["model_id"]))
