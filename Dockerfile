# Two images. `--target agent`: the management agent that runs in each cluster (the agent and the shared
# library only). The default, last: one image for every Strata component; docker-compose picks the
# component with `strata serve X`.
FROM python:3.11-slim AS workspace
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy
RUN pip install --no-cache-dir uv
WORKDIR /src
# The lock and every member's pyproject file: uv resolves the whole workspace whatever it installs.
COPY pyproject.toml uv.lock ./
COPY libs/common/pyproject.toml libs/common/
COPY services/api/pyproject.toml services/api/
COPY services/imagebuilder/pyproject.toml services/imagebuilder/
COPY services/provisioner/pyproject.toml services/provisioner/
COPY services/addons/pyproject.toml services/addons/
COPY localcloud/pyproject.toml localcloud/
COPY drivers/aws/pyproject.toml drivers/aws/
COPY drivers/vsphere/pyproject.toml drivers/vsphere/
COPY drivers/azure/pyproject.toml drivers/azure/
COPY agent/pyproject.toml agent/
COPY cli/pyproject.toml cli/

FROM workspace AS agent
ENV UV_PROJECT_ENVIRONMENT=/opt/strata-agent PATH=/opt/strata-agent/bin:$PATH
COPY libs libs
COPY agent agent
RUN uv sync --frozen --no-dev --package strata-agent && useradd --system --uid 999 strata
USER strata
ENTRYPOINT ["strata-agent"]

FROM workspace AS base
ENV UV_PROJECT_ENVIRONMENT=/opt/strata PATH=/opt/strata/bin:$PATH
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends openscap-scanner ssg-debderived \
       ssg-nondebian && rm -rf /var/lib/apt/lists/*
RUN uv sync --frozen --no-dev --all-packages --no-install-workspace

# Code layer.
COPY libs libs
COPY services services
COPY localcloud localcloud
COPY drivers drivers
COPY agent agent
COPY cli cli
COPY packs packs
RUN uv sync --frozen --no-dev --all-packages \
    && useradd --system --uid 999 --home /var/lib/strata --create-home strata
USER strata
ENV STRATA_STATE_DIR=/var/lib/strata
ENTRYPOINT ["strata"]
CMD ["serve", "api"]
