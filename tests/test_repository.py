"""The repository's own invariants: environment files agree, notebooks are stored
clean with a Python 3 kernelspec and the hidden install cell, the table of
contents is complete, and the API page covers every public module."""
from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import tomllib

import pytest
import yaml

from conftest import ROOT, notebooks

PUBLIC_MODULES = ["scaling", "scratch", "nn", "data", "models", "train",
                  "diagnostics", "plots", "experiments", "ensemble", "stats"]


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _requirements_from_pyproject() -> set[str]:
    project = _pyproject()["project"]
    reqs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        reqs += extra
    return {r.replace(" ", "") for r in reqs}


def _requirements_from_environment() -> set[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    return {r.replace(" ", "") for r in pip_section if not r.startswith("-")}


def test_environment_yml_names_the_same_packages_and_bounds_as_pyproject():
    assert _requirements_from_environment() == _requirements_from_pyproject()


def test_distribution_name_does_not_collide_with_pypi_bnlearn():
    # `bnlearn` on PyPI is an unrelated Bayesian-network package.
    assert _pyproject()["project"]["name"] != "bnlearn"
    readme = (ROOT / "README.md").read_text()
    assert _pyproject()["project"]["name"] in readme and "Bayesian" in readme


def _config():
    return yaml.safe_load((ROOT / "_config.yml").read_text())


def _toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries):
        for e in entries:
            if "file" in e:
                files.append(e["file"])
            for key in ("chapters", "sections", "parts"):
                walk(e.get(key, []))

    walk(toc.get("chapters", []) + toc.get("parts", []))
    return files


def test_every_toc_entry_exists():
    for f in _toc_files():
        assert any((ROOT / (f + ext)).exists() for ext in ("", ".md", ".ipynb")), f


@pytest.mark.parametrize("nb_path", notebooks(), ids=lambda p: p.name)
class TestNotebookStorage:
    def test_listed_in_toc(self, nb_path):
        assert f"book/{nb_path.stem}" in _toc_files(), f"{nb_path.name} is not in _toc.yml"

    def test_python3_kernelspec(self, nb_path):
        meta = json.loads(nb_path.read_text())["metadata"]
        ks = meta.get("kernelspec", {})
        assert ks.get("name") == "python3" and ks.get("language") == "python", ks

    def test_stored_without_outputs(self, nb_path):
        nb = json.loads(nb_path.read_text())
        for i, cell in enumerate(nb["cells"]):
            if cell["cell_type"] != "code":
                continue
            if "nbval-check-output" in cell.get("metadata", {}).get("tags", []):
                continue
            assert not cell.get("outputs"), f"cell {i} of {nb_path.name} is stored with outputs"
            assert cell.get("execution_count") is None, f"cell {i} has an execution count"

    def test_hidden_install_cell_uses_the_configured_repository(self, nb_path):
        nb = json.loads(nb_path.read_text())
        first = next(c for c in nb["cells"] if c["cell_type"] == "code")
        src = "".join(first["source"])
        assert "remove-cell" in first["metadata"].get("tags", []), "install cell must be hidden"
        assert "pip" in src and 'find_spec("bnlearn")' in src
        url = _config()["repository"]["url"].removeprefix("https://")
        assert f"git+https://{url}" in src, f"install cell does not point at {url}"

    def test_ends_with_exercises(self, nb_path):
        text = nb_path.read_text()
        assert "{exercise}" in text and "{solution}" in text and ":class: dropdown" in text


def test_checker_catches_a_notebook_stored_with_outputs(tmp_path):
    # The storage check above must be able to fail: feed it a dirty notebook.
    nb = {"cells": [{"cell_type": "code", "metadata": {}, "source": "1",
                     "outputs": [{"output_type": "stream", "name": "stdout", "text": "1"}],
                     "execution_count": 1}],
          "metadata": {"kernelspec": {"name": "python3", "language": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    p = tmp_path / "dirty.ipynb"
    p.write_text(json.dumps(nb))
    with pytest.raises(AssertionError, match="stored with outputs"):
        TestNotebookStorage().test_stored_without_outputs(p)


def test_api_page_documents_every_public_module():
    api = (ROOT / "book" / "api.md").read_text()
    for mod in PUBLIC_MODULES:
        path = ROOT / "bnlearn" / mod
        assert path.with_suffix(".py").exists() or (path / "__init__.py").exists(), f"bnlearn.{mod} is missing"
        assert re.search(rf"automodule:: bnlearn\.{mod}\s*$", api, re.M), f"api.md lacks bnlearn.{mod}"


@pytest.mark.parametrize("mod", PUBLIC_MODULES)
def test_public_modules_declare_all(mod):
    path = ROOT / "bnlearn" / mod
    src = path.with_suffix(".py") if path.with_suffix(".py").exists() else path / "__init__.py"
    assert src.exists(), f"bnlearn.{mod} is missing"
    tree = ast.parse(src.read_text())
    names = [t.id for n in tree.body if isinstance(n, (ast.Assign, ast.AnnAssign))
             for t in (n.targets if isinstance(n, ast.Assign) else [n.target])
             if isinstance(t, ast.Name)]
    assert "__all__" in names, f"bnlearn.{mod} has no __all__"


@pytest.mark.parametrize("mod", ["bnlearn", "bnlearn.scaling", "bnlearn.scratch", "bnlearn.stats",
                                 "bnlearn._validation"])
def test_numpy_only_modules_never_import_torch(mod):
    code = f"import sys, {mod}; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0, f"{mod} imports torch"


def test_binder_installs_the_package_after_the_environment():
    # repo2docker builds environment.yml before the repository's files are
    # copied in, so `-e .` there would fail; postBuild installs the package.
    env = (ROOT / "environment.yml").read_text()
    assert "-e ." not in env.replace("`pip install --no-deps -e .`", "")
    post = ROOT / "postBuild"
    assert post.exists() and post.stat().st_mode & 0o111, "postBuild must be executable"
    assert re.search(r"pip install .*-e \.", post.read_text())


def test_readme_links_the_rendered_book_at_the_configured_repository():
    # The Pages address follows from the repository URL in _config.yml: github.com/OWNER/NAME -> OWNER.github.io/NAME/
    url = re.search(r"^\s*url:\s*(\S+)", (ROOT / "_config.yml").read_text(), re.M).group(1)
    owner, name = re.match(r"https://github.com/([^/]+)/([^/]+?)/?$", url).groups()
    assert f"https://{owner.lower()}.github.io/{name}/" in (ROOT / "README.md").read_text()
