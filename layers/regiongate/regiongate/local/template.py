"""Read template.yaml: the one source of truth for routes, environment and AWS resources.

The local server and the tests take routes, function settings, and the bus, rules, queues and
table they create in the AWS emulator from here, so nothing deployed is described twice.
Intrinsic functions are resolved as far as local use needs: Ref, GetAtt, Sub, If, Join,
Equals, Not, and parameters with their defaults.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ACCOUNT, REGION, PARTITION = "123456789012", "us-east-1", "aws"


class _Loader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form tags (``!Ref x`` -> ``{"Ref": "x"}``)."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_Loader.add_multi_constructor("!", _intrinsic)


@dataclass(frozen=True)
class Route:
    method: str  # GET, POST, ... or ANY
    path: str  # /v1/geo/{ip}
    function: str  # logical id of the integration's function, or "" for HTTP proxies
    authorizer: str | None = None  # logical id of a Lambda REQUEST authorizer's function
    upstream: str | None = None  # HTTP_PROXY integration URI
    auth: str = "NONE"  # NONE, AWS_IAM, JWT or CUSTOM

    @property
    def pattern(self) -> re.Pattern[str]:
        regex = re.sub(r"\\{(\w+)\\\+\\}", r"(?P<\1>.+)", re.escape(self.path))
        regex = re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)", regex)
        return re.compile(f"^{regex}$")


@dataclass
class Template:
    path: Path
    document: dict[str, Any]
    parameters: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  # logical id -> physical name / URL

    @classmethod
    def load(cls, path: str | Path, overrides: dict[str, str] | None = None) -> Template:
        file = Path(path)
        document = yaml.load(file.read_text(), Loader=_Loader)  # noqa: S506 - safe subclass
        params = {k: str(v.get("Default", "")) for k, v in document.get("Parameters", {}).items()}
        params.update(overrides or {})
        return cls(file, document, params)

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        resources: dict[str, dict[str, Any]] = self.document["Resources"]
        return resources

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v["Type"] == kind}

    # --- intrinsic functions -------------------------------------------------------------

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.document.get("Conditions", {})[name]))

    def arn(self, logical_id: str) -> str:
        kind = self.resources[logical_id]["Type"]
        name = self.names.get(logical_id, logical_id)
        if kind == "AWS::SQS::Queue":
            return f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:{name.rsplit('/', 1)[-1]}"
        if kind == "AWS::Events::EventBus":
            return f"arn:{PARTITION}:events:{REGION}:{ACCOUNT}:event-bus/{name}"
        if kind == "AWS::Events::Rule":
            return f"arn:{PARTITION}:events:{REGION}:{ACCOUNT}:rule/{name}"
        if kind == "AWS::DynamoDB::Table":
            return f"arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT}:table/{name}"
        return f"arn:{PARTITION}:lambda:{REGION}:{ACCOUNT}:function:{name}"

    def _attribute(self, logical_id: str, attribute: str) -> str:
        if attribute == "Arn":
            return self.arn(logical_id)
        if attribute == "QueueName":
            return self.names.get(logical_id, logical_id).rsplit("/", 1)[-1]
        return f"{logical_id}.{attribute}"

    def _ref(self, name: str) -> Any:
        pseudo = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": PARTITION,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": None,
            "AWS::StackName": "regiongate-local",
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            kind = self.document["Parameters"][name].get("Type")
            value = self.parameters[name]
            if kind == "CommaDelimitedList":
                return [v for v in value.split(",") if v] if value else [""]
            return value
        return self.names.get(name, name)

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self._ref(arg)
            if key == "Fn::GetAtt":
                return self._attribute(arg[0], arg[1])
            if key == "Fn::Sub":
                text = arg if isinstance(arg, str) else arg[0]

                def substitute(match: re.Match[str]) -> str:
                    ref = match.group(1)
                    if "." in ref:
                        logical_id, attribute = ref.split(".", 1)
                        return self._attribute(logical_id, attribute)
                    return str(self._ref(ref))

                return re.sub(r"\$\{([^}!]+)\}", substitute, text)
            if key == "Fn::If":
                name, then, otherwise = arg
                return self.resolve(then if self.condition(name) else otherwise)
            if key == "Fn::Join":
                return str(arg[0]).join(str(v) for v in self.resolve(arg[1]))
            if key == "Fn::Equals":
                left, right = self.resolve(arg)
                return left == right
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Condition":
                return self.condition(arg)
        return {k: self.resolve(v) for k, v in value.items()}

    # --- what the local server and tests need ---------------------------------------------

    def function(self, logical_id: str) -> dict[str, Any]:
        """A function's properties with Globals applied (Environment merged)."""
        globals_ = self.document.get("Globals", {}).get("Function", {})
        props = dict(self.resources[logical_id]["Properties"])
        merged = {**globals_, **props}
        env = dict(globals_.get("Environment", {}).get("Variables", {}))
        env.update(props.get("Environment", {}).get("Variables", {}))
        merged["Environment"] = {"Variables": env}
        return merged

    def environment(self, logical_id: str) -> dict[str, str]:
        variables = self.function(logical_id)["Environment"]["Variables"]
        resolved = {k: self.resolve(v) for k, v in variables.items()}
        return {k: "" if v is None else str(v) for k, v in resolved.items()}

    def handler_file(self, logical_id: str) -> Path:
        props = self.function(logical_id)
        module = str(props["Handler"]).rsplit(".", 1)[0]
        return self.path.parent / str(props["CodeUri"]) / f"{module}.py"

    def routes(self) -> list[Route]:
        """Every HTTP API route: SAM HttpApi events and plain API Gateway v2 routes."""
        routes: list[Route] = []
        for logical_id, resource in self.of_type("AWS::Serverless::Function").items():
            for event in resource["Properties"].get("Events", {}).values():
                if event["Type"] == "HttpApi":
                    props = event["Properties"]
                    auth = (props.get("Auth") or {}).get("Authorizer", "NONE")
                    routes.append(
                        Route(props["Method"].upper(), props["Path"], logical_id, auth=str(auth))
                    )
        for resource in self.of_type("AWS::ApiGatewayV2::Route").values():
            condition = resource.get("Condition")
            if condition and not self.condition(condition):
                continue
            props = resource["Properties"]
            method, path = props["RouteKey"].split(" ", 1)
            integration_id = self._integration_id(props["Target"])
            integration = self.resources[integration_id]["Properties"]
            kind = self.resolve(props.get("AuthorizationType", "NONE"))
            authorizer = None
            if kind == "CUSTOM":
                authorizer_props = self.resources[props["AuthorizerId"]["Ref"]]["Properties"]
                uri = authorizer_props["AuthorizerUri"]["Fn::Sub"]
                authorizer = re.search(r"\$\{(\w+)\.Arn\}", uri).group(1)  # type: ignore[union-attr]
            if integration["IntegrationType"] == "AWS_PROXY":
                function = integration["IntegrationUri"]["Fn::GetAtt"][0]
                routes.append(Route(method, path, function, authorizer, auth=str(kind)))
            else:
                routes.append(
                    Route(
                        method,
                        path,
                        "",
                        authorizer,
                        upstream=self.resolve(integration["IntegrationUri"]),
                        auth=str(kind),
                    )
                )
        return routes

    @staticmethod
    def _integration_id(target: Any) -> str:
        text = target["Fn::Sub"] if isinstance(target, dict) else str(target)
        match = re.search(r"\$\{(\w+)\}", text)
        if not match:
            raise ValueError(f"cannot read route target {target!r}")
        return match.group(1)
