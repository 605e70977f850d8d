// The line nhsuk-frontend's page template runs inline, kept in a file so the
// Content-Security-Policy can forbid inline scripts. It must run at the start of <body>.
document.body.className +=
  " js-enabled" + ("noModule" in HTMLScriptElement.prototype ? " nhsuk-frontend-supported" : "");
