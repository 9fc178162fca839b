"""`/service` and `/inferencer` routes of the original's inference variant: services and
inferencers, each metadata plus a pickled object, routed as `/transformation` is
(rest_compat/id_routes.py)."""

from flrepo.documents.inference import Inferencer, Service
from flrepo.operations import inference
from flrepo.rest_compat.bodies import Key, MachineCapabilitiesBody, Text
from flrepo.rest_compat.id_routes import id_router
from pydantic import BaseModel, Field


class ServiceBody(BaseModel):
    service_id: Key = Field(alias="id")
    description: Text | None = None
    needs: MachineCapabilitiesBody | None = None


class InferencerBody(BaseModel):
    inferencer_id: Key = Field(alias="id")
    description: Text | None = None
    library: Text | None = None
    needs: MachineCapabilitiesBody | None = None
    use_cuda: bool | None = False


services = id_router("service", ServiceBody, Service, inference)
inferencers = id_router("inferencer", InferencerBody, Inferencer, inference)
