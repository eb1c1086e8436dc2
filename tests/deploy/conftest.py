"""Fixtures for the deployment tests: AWS peers on loopback and warm Lambda environments running
Zappa's real handler, over the repository's code (`portal_lambda`, stage dev) or over the
unpacked `zappa package production` zip with the models layer (`packaged_lambda`)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.deploy import events
from tests.deploy.aws import LambdaInvokeRecorder, MotoServer
from tests.deploy.container import (
    HttpResponse,
    LambdaContainer,
    lambda_env,
    make_task_root,
    repo_paths,
)
from tests.deploy.lambda_build import (
    build_models_layer,
    build_package,
    runtime_provided_dir,
    save_python_settings,
    stage_settings,
    unpack,
)

STAGE = "dev"
OPERATOR = "operator"
PASSWORD = "lambda-" + secrets.token_urlsafe(12)
MANAGE = ("migrate --noinput", "createcachetable", "portal_demo")


def write_settings(
    dest: Path, stage: str = STAGE, *, env: dict[str, str] | None = None, **overrides: Any
) -> Path:
    """A one-stage Zappa settings file derived from the real one (extends resolved)."""
    config = stage_settings(stage)
    config.pop("extends", None)
    if env:
        config["environment_variables"] = {**config.get("environment_variables", {}), **env}
    for key, value in overrides.items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    dest.write_text(json.dumps({stage: config}, indent=2))
    return dest


def put_remote_env(moto: MotoServer, stage: str, values: dict[str, str]) -> None:
    """Secrets as production gets them: Zappa's remote_env, a JSON object on S3."""
    bucket, key = stage_settings(stage)["remote_env"].removeprefix("s3://").split("/", 1)
    s3 = moto.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(values).encode())


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    server = MotoServer(tmp_path_factory.mktemp("moto") / "moto.log").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def lambda_invokes() -> Iterator[LambdaInvokeRecorder]:
    recorder = LambdaInvokeRecorder().start()
    yield recorder
    recorder.stop()


@dataclass
class LambdaApp:
    """A warm function with a migrated database and the demo accounts."""

    container: LambdaContainer
    _token: str = field(default="", init=False)

    def call(self, kind: str, method: str, path: str, **kwargs: Any) -> HttpResponse:
        build = events.rest_event if kind == "rest" else events.http_event
        return self.container.http(build(method, path, **kwargs))

    def token(self) -> str:
        if not self._token:
            response = self.call(
                "rest",
                "POST",
                "/api/auth/token/",
                headers={"Content-Type": "application/json"},
                body=json.dumps({"username": OPERATOR, "password": PASSWORD}),
            )
            assert response.status == 200, response
            self._token = response.json()["token"]
        return self._token


@dataclass
class PortalLambda(LambdaApp):
    static_root: Path = Path()


@dataclass
class PackagedLambda(LambdaApp):
    paths: list[Path] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    root: Path = Path()

    @property
    def task_root(self) -> Path:
        return self.paths[0]

    @property
    def layer_dir(self) -> Path:
        return self.paths[1].parent

    @property
    def runtime_dir(self) -> Path:
        return self.paths[2]

    def fresh(self, name: str) -> LambdaContainer:
        """A new execution environment: a cold start."""
        return LambdaContainer(self.paths, self.env, self.root / f"{name}.log")


@pytest.fixture(scope="session")
def portal_lambda(
    tmp_path_factory: pytest.TempPathFactory,
    moto: MotoServer,
    lambda_invokes: LambdaInvokeRecorder,
) -> Iterator[PortalLambda]:
    root = tmp_path_factory.mktemp("lambda")
    put_remote_env(
        moto,
        STAGE,
        {"SECRET_KEY": secrets.token_urlsafe(50), "DATABASE_URL": f"sqlite:///{root / 'db'}"},
    )
    static_root = root / "static"
    # Static files are served by WhiteNoise here (no S3 static bucket): the S3 path has its
    # own tests in test_storage.py and through the packaged function.
    settings_file = write_settings(
        root / "zappa_settings.json",
        env={
            "USE_S3_STORAGE": "0",
            "STATIC_ROOT": str(static_root),
            "MEDIA_ROOT": str(root / "media"),
            "EGRESS_ALLOWED_NETWORKS": "127.0.0.0/8,::1/128",
            "LOG_LEVEL": "warning",
        },
    )
    python_settings = save_python_settings(STAGE, settings_file, root / "settings")
    env = lambda_env(
        root,
        AWS_ENDPOINT_URL=moto.url,
        AWS_ENDPOINT_URL_LAMBDA=lambda_invokes.url,
        PORTAL_DEMO_PASSWORD=PASSWORD,
    )
    # `zappa manage dev ...` runs in an execution environment of its own, before the web one.
    manage_root = make_task_root(root / "manage", python_settings)
    with LambdaContainer(repo_paths(manage_root), env, root / "manage.log") as manage:
        for command in (*MANAGE, "collectstatic --noinput -v 0"):
            manage.invoke(events.manage_event(command))
    web_root = make_task_root(root / "web", python_settings)
    container = LambdaContainer(repo_paths(web_root), env, root / "web.log")
    yield PortalLambda(container, static_root=static_root)
    container.close()


@pytest.fixture(scope="session")
def packaged_lambda(
    moto: MotoServer,
    lambda_invokes: LambdaInvokeRecorder,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[PackagedLambda]:
    """The production package unzipped as Lambda unzips it: task root first, then the models
    layer's /opt/python, then the runtime's own boto3; nothing from the development venv."""
    root = tmp_path_factory.mktemp("packaged")
    task_root = unpack(build_package("production"))
    runtime_dir = runtime_provided_dir(root / "var-runtime")
    _, layer = build_models_layer()
    settings = stage_settings("production")["environment_variables"]
    s3 = moto.client("s3")
    for bucket in (settings["AWS_STORAGE_BUCKET_NAME"], settings["AWS_MEDIA_BUCKET_NAME"]):
        s3.create_bucket(Bucket=bucket)
    put_remote_env(
        moto,
        "production",
        {
            "SECRET_KEY": secrets.token_urlsafe(50),
            "DATABASE_URL": f"sqlite:///{root / 'db'}",
            "FACES_STORE_IMAGES": "1",
        },
    )
    env = lambda_env(
        task_root,
        function_name="portal-production",
        AWS_ENDPOINT_URL=moto.url,
        AWS_ENDPOINT_URL_LAMBDA=lambda_invokes.url,
        PORTAL_DEMO_PASSWORD=PASSWORD,
    )
    paths = [task_root, layer / "python", runtime_dir]
    with LambdaContainer(paths, env, root / "manage.log") as manage:
        for command in MANAGE:
            manage.invoke(events.manage_event(command))
    container = LambdaContainer(paths, env, root / "web.log")
    yield PackagedLambda(container, paths=paths, env=env, root=root)
    container.close()


@pytest.fixture(params=["rest", "http"], ids=["rest-v1", "function-url-v2"])
def kind(request: pytest.FixtureRequest) -> str:
    return request.param
