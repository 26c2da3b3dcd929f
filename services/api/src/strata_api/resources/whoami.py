"""Who the token belongs to: its project and role."""

from flask import Blueprint

from strata_api.http import api, principal, reply
from strata_api.schemas import WhoAmI

bp = Blueprint("whoami", __name__, url_prefix="/v1")


@bp.get("/whoami")
@api("The project and role of the calling token", responses={200: WhoAmI})
def whoami():
    me = principal()
    return reply(200, WhoAmI, {"project": me.project, "projectId": me.project_id, "role": me.role})
