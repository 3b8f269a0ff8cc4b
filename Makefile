# SPDX-FileCopyrightText: 2026 recsys authors
# SPDX-License-Identifier: Apache-2.0
#
# Shortcuts. The README's commands (scripts/demo, scripts/test) need no make.
#   make dev         build and start the compose stack, wait until healthy
#   make dev-down    stop it (data volumes kept)
#   make dev-clean   stop it and delete its volumes (database, MinIO)
#   make dev-logs    follow the logs
#   make demo        scripts/demo
#   make test        scripts/test
#   make check-packaging   hadolint, compose schema, Helm chart render + validation

COMPOSE ?= docker compose
RECSYS_HTTP_PORT ?= 8000
export RECSYS_HTTP_PORT

.PHONY: dev dev-down dev-clean dev-logs demo test check-packaging

dev:
	$(COMPOSE) up -d --build --wait
	@echo
	@echo "recsys is up behind the proxy: http://localhost:$(RECSYS_HTTP_PORT)"
	@echo "  API docs:     http://localhost:$(RECSYS_HTTP_PORT)/docs"
	@echo "  OpenAPI:      http://localhost:$(RECSYS_HTTP_PORT)/openapi.yaml"
	@echo "  readiness:    curl -fsS http://localhost:$(RECSYS_HTTP_PORT)/readyz"
	@echo "Create an API key (printed once):"
	@echo "  $(COMPOSE) exec sidecar recsys-sidecar keys create --tenant demo --role operator"
	@echo "  then send it as header X-API-Key (docs/how-to/docker-compose.md)"
	@echo "SQL shell:      $(COMPOSE) exec db psql -U postgres recsys"
	@echo "Stop:           make dev-down   (make dev-clean also deletes the data)"

dev-down:
	$(COMPOSE) down

dev-clean:
	$(COMPOSE) down --volumes

dev-logs:
	$(COMPOSE) logs --follow

demo:
	scripts/demo

test:
	scripts/test

check-packaging:
	bash .ci/check-packaging.sh
