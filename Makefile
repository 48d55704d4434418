# Wraps docker compose and npm for the web/db/cache stack. `make` lists the targets.
.DEFAULT_GOAL := help
.PHONY: help up down logs ps test test-cluster bench dev clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{ printf "  make %-12s %s\n", $$1, $$2 }'

up: ## Create missing secrets, build and start the stack, wait until it is healthy
	@scripts/secrets.sh
	docker compose up -d --build --wait
	@port=$$(docker compose port web 5000 | sed 's/.*://'); \
	  echo "web is up at http://localhost:$$port"; \
	  echo "try: curl -s http://localhost:$$port/integracao"

down: ## Stop and remove the containers (the data volumes stay)
	docker compose down

logs: ## Follow the logs of every service
	docker compose logs -f

ps: ## Show the services and their health
	docker compose ps

test: ## Lint, typecheck, build, lint compose, then run the tests (compose stack or local services)
	@scripts/test.sh

test-cluster: ## Three replicas behind haproxy on network-namespace hosts: restarts, kill -9, a cut-off database (root)
	@services/web/test/cluster/run.sh

bench: ## Run the benchmark (bench/run.sh)
	@bench/run.sh

dev: ## Run the service from source in watch mode with pretty logs
	@scripts/dev.sh

clean: ## Remove containers, networks, the data volumes (all stored data) and dist
	@echo "Removing the containers, networks and volumes of this stack and of make dev's web-dev project: all stored data goes."
	docker compose down -v --remove-orphans
	docker compose -p web-dev down -v --remove-orphans
	rm -rf services/web/dist
