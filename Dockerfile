# The portal image (sandbox-manager on Kubernetes): the portal, plus the self-contained
# portal-envd that the Kubernetes runtime's init container copies into sandbox pods whose image
# lacks it (Portal:Kubernetes:EnvdImage names this image, EnvdPathInImage /app/envd/portal-envd).
# Build with scripts/build-image.sh.
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
# clang + zlib: NativeAOT envd; cc: the local runtime's launcher, built with Portal.Core.
RUN apt-get update && apt-get install -y --no-install-recommends clang zlib1g-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN dotnet publish Portal.Web -c Release -o /app -nologo \
 && dotnet publish Portal.Envd -c Release -r linux-x64 -o /app/envd -nologo -p:DebugType=none -p:DebugSymbols=false \
 && rm -f /app/envd/*.json /app/envd/*.dbg

FROM mcr.microsoft.com/dotnet/aspnet:10.0
COPY --from=build /app /app
# The Deployment runs it as this user, read-only root file system, data in /var/lib/sandbox-portal.
RUN mkdir -p /var/lib/sandbox-portal /etc/sandbox-portal && chown 10001:10001 /var/lib/sandbox-portal
USER 10001:10001
ENV PORTAL_DATA_DIR=/var/lib/sandbox-portal
EXPOSE 7788
ENTRYPOINT ["dotnet", "/app/Portal.Web.dll"]
