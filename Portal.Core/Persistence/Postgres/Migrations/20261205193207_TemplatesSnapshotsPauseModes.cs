using Microsoft.EntityFrameworkCore.Migrations;
using Npgsql.EntityFrameworkCore.PostgreSQL.Metadata;

#nullable disable

namespace Portal.Core.Persistence.Postgres.Migrations
{
    /// <inheritdoc />
    public partial class TemplatesSnapshotsPauseModes : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<bool>(
                name: "AutoPauseFilesystem",
                table: "sandboxes",
                type: "boolean",
                nullable: false,
                defaultValue: false);

            migrationBuilder.AddColumn<bool>(
                name: "AutoResume",
                table: "sandboxes",
                type: "boolean",
                nullable: false,
                defaultValue: false);

            migrationBuilder.CreateTable(
                name: "snapshots",
                columns: table => new
                {
                    SnapshotId = table.Column<string>(type: "text", nullable: false),
                    TeamId = table.Column<string>(type: "text", nullable: false),
                    Namespace = table.Column<string>(type: "text", nullable: true),
                    Name = table.Column<string>(type: "text", nullable: true),
                    Tag = table.Column<string>(type: "text", nullable: false),
                    SourceSandboxId = table.Column<string>(type: "text", nullable: false),
                    ParentTemplateId = table.Column<string>(type: "text", nullable: false),
                    Listed = table.Column<bool>(type: "boolean", nullable: false),
                    CreatedAt = table.Column<long>(type: "bigint", nullable: false),
                    RemovedAt = table.Column<long>(type: "bigint", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_snapshots", x => x.SnapshotId);
                    table.ForeignKey(
                        name: "FK_snapshots_teams_TeamId",
                        column: x => x.TeamId,
                        principalTable: "teams",
                        principalColumn: "TeamId",
                        onDelete: ReferentialAction.Restrict);
                });

            migrationBuilder.CreateTable(
                name: "template_layers",
                columns: table => new
                {
                    Key = table.Column<string>(type: "text", nullable: false),
                    TeamId = table.Column<string>(type: "text", nullable: false),
                    RuntimeTemplateId = table.Column<string>(type: "text", nullable: false),
                    StateJson = table.Column<string>(type: "text", nullable: false),
                    CreatedAt = table.Column<long>(type: "bigint", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_template_layers", x => x.Key);
                });

            migrationBuilder.CreateTable(
                name: "templates",
                columns: table => new
                {
                    TemplateId = table.Column<string>(type: "text", nullable: false),
                    TeamId = table.Column<string>(type: "text", nullable: false),
                    Public = table.Column<bool>(type: "boolean", nullable: false),
                    CpuCount = table.Column<int>(type: "integer", nullable: false),
                    MemoryMB = table.Column<int>(type: "integer", nullable: false),
                    DiskSizeMB = table.Column<int>(type: "integer", nullable: false),
                    CreatedAt = table.Column<long>(type: "bigint", nullable: false),
                    UpdatedAt = table.Column<long>(type: "bigint", nullable: false),
                    CreatedById = table.Column<string>(type: "text", nullable: true),
                    CreatedByName = table.Column<string>(type: "text", nullable: true),
                    SpawnCount = table.Column<long>(type: "bigint", nullable: false),
                    LastSpawnedAt = table.Column<long>(type: "bigint", nullable: true),
                    BuildCount = table.Column<int>(type: "integer", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_templates", x => x.TemplateId);
                    table.ForeignKey(
                        name: "FK_templates_teams_TeamId",
                        column: x => x.TeamId,
                        principalTable: "teams",
                        principalColumn: "TeamId",
                        onDelete: ReferentialAction.Restrict);
                });

            migrationBuilder.CreateTable(
                name: "template_builds",
                columns: table => new
                {
                    BuildId = table.Column<string>(type: "text", nullable: false),
                    TemplateId = table.Column<string>(type: "text", nullable: false),
                    TeamId = table.Column<string>(type: "text", nullable: false),
                    Status = table.Column<string>(type: "text", nullable: false),
                    CreatedAt = table.Column<long>(type: "bigint", nullable: false),
                    FinishedAt = table.Column<long>(type: "bigint", nullable: true),
                    TagsJson = table.Column<string>(type: "text", nullable: false),
                    RequestJson = table.Column<string>(type: "text", nullable: true),
                    ReasonMessage = table.Column<string>(type: "text", nullable: true),
                    ReasonStep = table.Column<string>(type: "text", nullable: true),
                    RuntimeTemplateId = table.Column<string>(type: "text", nullable: true),
                    BuildSandboxId = table.Column<string>(type: "text", nullable: true),
                    ResultJson = table.Column<string>(type: "text", nullable: true),
                    StartCmd = table.Column<string>(type: "text", nullable: true),
                    ReadyCmd = table.Column<string>(type: "text", nullable: true),
                    LayerKeysJson = table.Column<string>(type: "text", nullable: false),
                    CpuCount = table.Column<int>(type: "integer", nullable: false),
                    MemoryMB = table.Column<int>(type: "integer", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_template_builds", x => x.BuildId);
                    table.ForeignKey(
                        name: "FK_template_builds_templates_TemplateId",
                        column: x => x.TemplateId,
                        principalTable: "templates",
                        principalColumn: "TemplateId",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "template_names",
                columns: table => new
                {
                    Name = table.Column<string>(type: "text", nullable: false),
                    TemplateId = table.Column<string>(type: "text", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_template_names", x => x.Name);
                    table.ForeignKey(
                        name: "FK_template_names_templates_TemplateId",
                        column: x => x.TemplateId,
                        principalTable: "templates",
                        principalColumn: "TemplateId",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "template_tags",
                columns: table => new
                {
                    TemplateId = table.Column<string>(type: "text", nullable: false),
                    Tag = table.Column<string>(type: "text", nullable: false),
                    BuildId = table.Column<string>(type: "text", nullable: false),
                    CreatedAt = table.Column<long>(type: "bigint", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_template_tags", x => new { x.TemplateId, x.Tag });
                    table.ForeignKey(
                        name: "FK_template_tags_templates_TemplateId",
                        column: x => x.TemplateId,
                        principalTable: "templates",
                        principalColumn: "TemplateId",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "template_build_logs",
                columns: table => new
                {
                    Id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    BuildId = table.Column<string>(type: "text", nullable: false),
                    Timestamp = table.Column<long>(type: "bigint", nullable: false),
                    Level = table.Column<string>(type: "text", nullable: false),
                    LevelRank = table.Column<int>(type: "integer", nullable: false),
                    Message = table.Column<string>(type: "text", nullable: false),
                    Step = table.Column<string>(type: "text", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_template_build_logs", x => x.Id);
                    table.ForeignKey(
                        name: "FK_template_build_logs_template_builds_BuildId",
                        column: x => x.BuildId,
                        principalTable: "template_builds",
                        principalColumn: "BuildId",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "IX_snapshots_RemovedAt",
                table: "snapshots",
                column: "RemovedAt");

            migrationBuilder.CreateIndex(
                name: "IX_snapshots_SourceSandboxId",
                table: "snapshots",
                column: "SourceSandboxId");

            migrationBuilder.CreateIndex(
                name: "IX_snapshots_TeamId_CreatedAt",
                table: "snapshots",
                columns: new[] { "TeamId", "CreatedAt" });

            migrationBuilder.CreateIndex(
                name: "IX_snapshots_TeamId_Namespace_Name_Tag",
                table: "snapshots",
                columns: new[] { "TeamId", "Namespace", "Name", "Tag" });

            migrationBuilder.CreateIndex(
                name: "IX_template_build_logs_BuildId_Id",
                table: "template_build_logs",
                columns: new[] { "BuildId", "Id" });

            migrationBuilder.CreateIndex(
                name: "IX_template_builds_Status",
                table: "template_builds",
                column: "Status");

            migrationBuilder.CreateIndex(
                name: "IX_template_builds_TemplateId_CreatedAt",
                table: "template_builds",
                columns: new[] { "TemplateId", "CreatedAt" });

            migrationBuilder.CreateIndex(
                name: "IX_template_layers_TeamId",
                table: "template_layers",
                column: "TeamId");

            migrationBuilder.CreateIndex(
                name: "IX_template_names_TemplateId",
                table: "template_names",
                column: "TemplateId");

            migrationBuilder.CreateIndex(
                name: "IX_templates_TeamId",
                table: "templates",
                column: "TeamId");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "snapshots");

            migrationBuilder.DropTable(
                name: "template_build_logs");

            migrationBuilder.DropTable(
                name: "template_layers");

            migrationBuilder.DropTable(
                name: "template_names");

            migrationBuilder.DropTable(
                name: "template_tags");

            migrationBuilder.DropTable(
                name: "template_builds");

            migrationBuilder.DropTable(
                name: "templates");

            migrationBuilder.DropColumn(
                name: "AutoPauseFilesystem",
                table: "sandboxes");

            migrationBuilder.DropColumn(
                name: "AutoResume",
                table: "sandboxes");
        }
    }
}
