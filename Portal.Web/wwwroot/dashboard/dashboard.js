// Small browser helpers the dashboard calls through JS interop.
window.portalDashboard = {
  copy: (text) => navigator.clipboard.writeText(text),
};
