using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Portal.Core.Persistence.Sqlite.Migrations
{
    /// <inheritdoc />
    public partial class LifecycleEvents : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<long>(
                name: "ExecutionStartedAt",
                table: "sandboxes",
                type: "INTEGER",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "EventId",
                table: "sandbox_logs",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "EventJson",
                table: "sandbox_logs",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "EventType",
                table: "sandbox_logs",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "TeamId",
                table: "sandbox_logs",
                type: "TEXT",
                nullable: true);

            migrationBuilder.CreateIndex(
                name: "IX_sandbox_logs_TeamId_Timestamp",
                table: "sandbox_logs",
                columns: new[] { "TeamId", "Timestamp" });

            migrationBuilder.CreateIndex(
                name: "IX_sandbox_logs_Timestamp",
                table: "sandbox_logs",
                column: "Timestamp");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_sandbox_logs_TeamId_Timestamp",
                table: "sandbox_logs");

            migrationBuilder.DropIndex(
                name: "IX_sandbox_logs_Timestamp",
                table: "sandbox_logs");

            migrationBuilder.DropColumn(
                name: "ExecutionStartedAt",
                table: "sandboxes");

            migrationBuilder.DropColumn(
                name: "EventId",
                table: "sandbox_logs");

            migrationBuilder.DropColumn(
                name: "EventJson",
                table: "sandbox_logs");

            migrationBuilder.DropColumn(
                name: "EventType",
                table: "sandbox_logs");

            migrationBuilder.DropColumn(
                name: "TeamId",
                table: "sandbox_logs");
        }
    }
}
