# Wraps docker compose and npm for the web/db/cache stack. `make` lists the targets.
.DEFAULT_GOAL := help
.PHONY: help up down logs ps test e2e bench dev clean

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{ printf "  make %-6s %s\n", $$1, $$2 }'

up: ## Create missing secrets, build and start the stack, wait until it is healthy
	@scripts/up.sh

down: ## Stop and remove the containers (the data volumes stay)
	@scripts/compose.sh down

logs: ## Follow the logs of every service
	@scripts/compose.sh logs -f

ps: ## Show the services and their health
	@scripts/compose.sh ps

test: ## Lint, typecheck, build, lint compose, run the tests (against compose's db and cache, or local services), then e2e when Docker answers
	@scripts/test.sh

e2e: ## Run the end-to-end suite over the whole compose stack, on throwaway projects
	@scripts/e2e.sh

bench: ## Run the benchmark (bench/run.sh)
	@bench/run.sh

dev: ## Run the service from source in watch mode with pretty logs
	@scripts/dev.sh

clean: ## Remove containers, networks, the data volumes (all stored data) and dist
	@echo "Removing the containers, networks and volumes of this stack and of make dev's web-dev project: all stored data goes."
	@scripts/compose.sh down -v --remove-orphans
	@SECRETS_DIR=.cache/web-dev/secrets scripts/compose.sh -p web-dev down -v --remove-orphans
	rm -rf .cache/web-dev
	rm -rf services/web/dist
