"""Read template.yaml: the one source of truth for routes, environment and AWS resources.

The local server and the tests take routes, function settings, and the bus, rules, queues and
table they create in the AWS emulator from here, so nothing deployed is described twice.
Intrinsic functions are resolved as far as local use needs: Ref, GetAtt, Sub, If, Join,
Equals, Not, And, Or, and parameters with their defaults.
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
    api: str = "HTTP"  # HTTP (API Gateway v2, payload 2.0) or REST (v1, the gate variant)

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
            if key == "Fn::And":
                return all(self.resolve(a) for a in arg)
            if key == "Fn::Or":
                return any(self.resolve(a) for a in arg)
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

    def _present(self, resource: dict[str, Any]) -> bool:
        condition = resource.get("Condition")
        return not condition or self.condition(condition)

    def _rest_path(self, resource_id: str) -> str:
        """The path of a REST API resource, from its chain of parents up to the root."""
        parts: list[str] = []
        parent: Any = {"Ref": resource_id}
        while isinstance(parent, dict) and "Ref" in parent:
            props = self.resources[parent["Ref"]]["Properties"]
            parts.append(str(props["PathPart"]))
            parent = props["ParentId"]
        return "/" + "/".join(reversed(parts))

    def _rest_routes(self) -> list[Route]:
        """The REST API gate's methods (HTTP_PROXY integrations behind the authorizer)."""
        routes: list[Route] = []
        for resource in self.of_type("AWS::ApiGateway::Method").values():
            if not self._present(resource):
                continue
            props = resource["Properties"]
            authorizer = None
            if props.get("AuthorizationType") == "CUSTOM":
                authorizer = self._authorizer_function(
                    self.resources[props["AuthorizerId"]["Ref"]]["Properties"]
                )
            routes.append(
                Route(
                    str(props["HttpMethod"]).upper(),
                    self._rest_path(props["ResourceId"]["Ref"]),
                    "",
                    authorizer,
                    upstream=self.resolve(props["Integration"]["Uri"]),
                    auth=str(props.get("AuthorizationType", "NONE")),
                    api="REST",
                )
            )
        return routes

    @staticmethod
    def _authorizer_function(props: dict[str, Any]) -> str:
        uri = props["AuthorizerUri"]["Fn::Sub"]
        return re.search(r"\$\{(\w+)\.Arn\}", uri).group(1)  # type: ignore[union-attr]

    def gateway_responses(self) -> dict[str, tuple[int, str]]:
        """The REST gate's gateway responses by type: status and JSON template."""
        answers: dict[str, tuple[int, str]] = {}
        for resource in self.of_type("AWS::ApiGateway::GatewayResponse").values():
            if self._present(resource):
                props = resource["Properties"]
                template = props["ResponseTemplates"]["application/json"]
                answers[props["ResponseType"]] = (int(props["StatusCode"]), str(template))
        return answers

    def routes(self) -> list[Route]:
        """Every route: SAM HttpApi events, API Gateway v2 routes and the REST gate's."""
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
            if not self._present(resource):
                continue
            props = resource["Properties"]
            method, path = props["RouteKey"].split(" ", 1)
            integration_id = self._integration_id(props["Target"])
            integration = self.resources[integration_id]["Properties"]
            kind = self.resolve(props.get("AuthorizationType", "NONE"))
            authorizer = None
            if kind == "CUSTOM":
                authorizer = self._authorizer_function(
                    self.resources[props["AuthorizerId"]["Ref"]]["Properties"]
                )
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
        return routes + self._rest_routes()

    @staticmethod
    def _integration_id(target: Any) -> str:
        text = target["Fn::Sub"] if isinstance(target, dict) else str(target)
        match = re.search(r"\$\{(\w+)\}", text)
        if not match:
            raise ValueError(f"cannot read route target {target!r}")
        return match.group(1)
