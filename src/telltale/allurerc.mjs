// Allure 3 configuration for Telltale compliance reports (generated per run).
// Paths come from the environment so one file serves every run folder.
const env = process.env;
export default {
  name: env.TELLTALE_REPORT_NAME || "Telltale compliance report",
  output: env.TELLTALE_REPORT_OUT,
  historyPath: env.TELLTALE_HISTORY || undefined,
  plugins: {
    awesome: {
      options: {
        singleFile: true,
        reportLanguage: "en",
        groupBy: ["epic", "feature", "story"],
      },
    },
  },
};
