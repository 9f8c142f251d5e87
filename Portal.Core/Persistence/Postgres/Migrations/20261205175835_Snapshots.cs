using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Portal.Core.Persistence.Postgres.Migrations
{
    /// <inheritdoc />
    public partial class Snapshots : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
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
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "snapshots");
        }
    }
}
