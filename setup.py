"""The wheel's packages: tenant_harness (a namespace package) and its subpackages, plus the checkout's
dbt/ and sql/verification/ as package data under tenant_harness/_bundled/ (mapped in pyproject.toml),
so a non-editable install carries the dbt project and the verification SQL."""

from setuptools import find_namespace_packages, setup

setup(
    packages=[
        *find_namespace_packages(include=["tenant_harness", "tenant_harness.*"], exclude=["*.__pycache__"]),
        "tenant_harness._bundled.dbt",
        "tenant_harness._bundled.sql.verification",
    ]
)
