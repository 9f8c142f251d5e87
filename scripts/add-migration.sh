#!/usr/bin/env bash
# Adds a schema migration NAME for every database the store supports (SQLite and PostgreSQL
# each keep their own migrations, since their SQL differs), after a change to
# Portal.Core/Persistence/PortalDbContext.cs or Entities.cs. Needs dotnet-ef:
#   dotnet tool install --global dotnet-ef --version 10.0.15
set -euo pipefail
cd "$(dirname "$0")/.."
NAME=${1:?usage: scripts/add-migration.sh NAME}
export PATH="$PATH:$HOME/.dotnet/tools"
for provider in Sqlite Postgres; do
  dotnet ef migrations add "$NAME" --project Portal.Core --context "${provider}PortalDbContext" \
    --output-dir "Persistence/$provider/Migrations" --namespace "Portal.Core.Persistence.$provider.Migrations"
done
rm -f Portal.Core/design.db*
# Both must now agree with the model.
for provider in Sqlite Postgres; do
  dotnet ef migrations has-pending-model-changes --project Portal.Core --context "${provider}PortalDbContext"
done
