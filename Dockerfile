# The router's image: one image, three roles (api, worker, scheduler) chosen by the command.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
# Dependencies from the hash-pinned production lock (core only: no embedded server, no test tools),
# then the project itself without resolving anything further.
COPY requirements/prod.txt ./requirements/prod.txt
RUN pip install --require-hashes -r requirements/prod.txt
COPY pyproject.toml README.md ./
COPY router ./router
COPY actors ./actors
COPY adapters ./adapters
COPY documents ./documents
COPY services ./services
COPY config ./config
COPY examples ./examples
RUN pip install --no-deps . && useradd --system --uid 10001 router && mkdir -p /app/.run && chown router /app/.run
USER router
ENV ROUTER_HTTP_ADDR=0.0.0.0:8080 ROUTER_LOG_JSON=true
EXPOSE 8080
CMD ["orderrouter", "serve"]
