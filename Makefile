# Wraps docker compose and npm for the web/db/cache stack. `make` lists the targets.
.DEFAULT_GOAL := help
.PHONY: help up down logs ps test e2e test-cluster ci bench dev clean psql redis-cli monitoring backup restore

# docker compose with the given arguments, after the check that Docker with
# Compose v2 answers (one line saying what is missing, otherwise).
COMPOSE = @scripts/compose.sh $@

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{ printf "  make %-12s %s\n", $$1, $$2 }'

up: ## Create missing secrets, build and start the stack, wait until it is healthy
	@scripts/up.sh $@

down: ## Stop and remove the containers (the data volumes stay)
	$(COMPOSE) down

logs: ## Follow the logs of every service
	$(COMPOSE) logs -f

ps: ## Show the services and their health
	$(COMPOSE) ps

test: ## Lint, typecheck, build, lint compose, run the tests (against compose's db and cache, or local services)
	@scripts/test.sh

e2e: ## Run the end-to-end suite over the whole compose stack, on throwaway projects
	@scripts/e2e.sh

test-cluster: ## Three replicas behind haproxy on network-namespace hosts: restarts, kill -9, a cut-off database (root)
	@services/web/test/cluster/run.sh

ci: test e2e test-cluster ## Everything CI runs: make test, make e2e, make test-cluster

bench: ## Run the benchmark (bench/run.sh)
	@bench/run.sh

dev: ## Run the service from source in watch mode with pretty logs
	@scripts/dev.sh

backup: ## Copy the running stack's PostgreSQL and Redis data into backups/<UTC timestamp>/ while web keeps serving
	@scripts/backup.sh

restore: ## Replace the stack's data with a backup: make restore BACKUP=backups/<timestamp> (FORCE=1 without a terminal)
	@FORCE="$(FORCE)" scripts/restore.sh "$(BACKUP)"

clean: ## Remove containers, networks, the data volumes (all stored data) and dist
	@echo "Removing the containers, networks and volumes of this stack and of make dev's web-dev project: all stored data goes."
	$(COMPOSE) down -v --remove-orphans
	@SECRETS_DIR=.cache/web-dev/secrets scripts/compose.sh $@ -p web-dev down -v --remove-orphans
	rm -rf .cache/web-dev
	rm -rf services/web/dist

# Both prompts run inside the containers, which hold the credentials: nothing
# secret is printed or passed on the host's command line. Without a terminal
# (`make psql < file.sql`), -T keeps compose from asking for one.
psql: ## Open a psql prompt on the running stack's database
	$(COMPOSE) exec $$([ -t 0 ] || echo -T) db sh -c 'exec psql -U "$$POSTGRES_USER" -d "$$POSTGRES_DB"'

redis-cli: ## Open a redis-cli prompt on the running stack's cache, authenticated from its secret
	$(COMPOSE) exec $$([ -t 0 ] || echo -T) cache sh -c 'REDISCLI_AUTH="$$(cat /run/secrets/redis_password)" exec redis-cli'

# web traces into the profile's Jaeger in this profile only (unless the shell names another collector).
monitoring: ## Start the stack plus Prometheus, Jaeger and Grafana (compose profile monitoring), Grafana on 127.0.0.1 only
	@OTEL_EXPORTER_OTLP_ENDPOINT="$${OTEL_EXPORTER_OTLP_ENDPOINT:-http://jaeger:4318}" scripts/up.sh $@ --profile monitoring
	@port=$$(docker compose --profile monitoring port grafana 3000 | sed 's/.*://'); \
	  echo "Grafana is up at http://127.0.0.1:$$port (dashboard web; user admin, password in secrets/grafana_admin_password.txt)"
