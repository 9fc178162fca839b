"""`/transformation` routes: data transformations and their pickled objects."""

from flrepo.documents.transformation import Transformation
from flrepo.operations import transformations
from flrepo.rest_compat.bodies import TransformationBody
from flrepo.rest_compat.id_routes import id_router

router = id_router("transformation", TransformationBody, Transformation, transformations)
