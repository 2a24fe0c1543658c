"""Maps the folders conformance/ and task_specs/ to the import names lra_conformance and
lra_task_specs (with every subpackage), which pyproject.toml alone cannot express."""

from setuptools import find_packages, setup


def mapped(folder: str, name: str) -> list[str]:
    return [name] + [f"{name}.{sub}" for sub in find_packages(folder)]


setup(
    packages=find_packages(include=["lra_core", "lra_core.*"])
    + mapped("conformance", "lra_conformance")
    + mapped("task_specs", "lra_task_specs"),
    package_dir={"lra_conformance": "conformance", "lra_task_specs": "task_specs"},
)
