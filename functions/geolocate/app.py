"""GET /v1/geo/{ip} and GET /v1/geo: where an address is, with the evidence.
GET /v1/geo/info: the geo databases in use, their build dates, age and warnings."""

import datetime as dt

from regiongate.api.http import client_address, create_resolver, http_handler
from regiongate.api.models import CallerGeoResponse, GeoInfoResponse, GeoResponse, responses
from regiongate.api.observability import metrics, tracer
from regiongate.engine import get_engine
from regiongate.geodata import geo_info
from regiongate.settings import settings

app = create_resolver()


# Registered before /v1/geo/<ip>, which would otherwise take "info" for an address.
@app.get("/v1/geo/info", responses=responses(GeoInfoResponse, 503), summary="Geo data in use")
@tracer.capture_method(capture_response=False)
def geo_data_info() -> GeoInfoResponse:
    today = dt.datetime.now(dt.UTC).date()
    return GeoInfoResponse.model_validate(
        geo_info(get_engine().geolocator, today, settings().geo_max_age_days)
    )


# 404: Powertools' path matcher (in Lambda as in serve) refuses some characters in {ip}, such
# as control characters, before this route runs; the answer is route_not_found.
@app.get(
    "/v1/geo/<ip>", responses=responses(GeoResponse, 400, 404, 503), summary="Geolocate an address"
)
@tracer.capture_method(capture_response=False)
def geolocate(ip: str) -> GeoResponse:
    metrics.add_metric(name="GeoLookups", unit="Count", value=1)
    return GeoResponse.model_validate(get_engine().geolocator.locate(ip).to_dict())


@app.get(
    "/v1/geo",
    responses=responses(CallerGeoResponse, 503),
    summary="Geolocate the caller's own address",
)
@tracer.capture_method(capture_response=False)
def geolocate_caller() -> CallerGeoResponse:
    client = client_address(app)
    metrics.add_metric(name="GeoLookups", unit="Count", value=1)
    result = get_engine().geolocator.locate(client.ip).to_dict()
    result["client"] = client.to_dict()
    return CallerGeoResponse.model_validate(result)


lambda_handler = http_handler(app)
