# One image for every Strata component; docker-compose picks the component with `strata serve X`.
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/opt/strata PATH=/opt/strata/bin:$PATH
RUN pip install --no-cache-dir uv \
    && apt-get update -qq && apt-get install -y -qq --no-install-recommends openscap-scanner ssg-debderived \
       ssg-nondebian && rm -rf /var/lib/apt/lists/*
WORKDIR /src

# Dependencies layer: only the lock and the members' pyproject files.
COPY pyproject.toml uv.lock ./
COPY libs/common/pyproject.toml libs/common/
COPY services/api/pyproject.toml services/api/
COPY services/imagebuilder/pyproject.toml services/imagebuilder/
COPY services/provisioner/pyproject.toml services/provisioner/
COPY services/addons/pyproject.toml services/addons/
COPY localcloud/pyproject.toml localcloud/
COPY drivers/aws/pyproject.toml drivers/aws/
COPY drivers/vsphere/pyproject.toml drivers/vsphere/
COPY cli/pyproject.toml cli/
RUN uv sync --frozen --no-dev --all-packages --no-install-workspace

# Code layer.
COPY libs libs
COPY services services
COPY localcloud localcloud
COPY drivers drivers
COPY cli cli
COPY packs packs
RUN uv sync --frozen --no-dev --all-packages \
    && useradd --system --uid 999 --home /var/lib/strata --create-home strata
USER strata
ENV STRATA_STATE_DIR=/var/lib/strata
ENTRYPOINT ["strata"]
CMD ["serve", "api"]
