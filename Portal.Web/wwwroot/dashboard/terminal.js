// The dashboard terminal: xterm.js (wwwroot/lib/xterm, from npm at build time) bound to a .NET
// object that relays keystrokes and sizes to the sandbox's PTY and writes its output here.
window.portalTerminal = {
  open(element, dotnet) {
    const term = new Terminal({ cursorBlink: false, fontFamily: 'ui-monospace, Menlo, Consolas, monospace', fontSize: 14, scrollback: 5000 });
    const fit = new FitAddon.FitAddon();
    term.loadAddon(fit);
    term.open(element);
    fit.fit();
    // The cursor blinks while the terminal has the keyboard and was used in the last 10 s (as GTK's
    // cursor-blink-timeout), then stays solid: a blinking cursor repaints the page twice a second,
    // which across many open dashboards is most of the browser's idle CPU.
    let blinkUntil;
    const blink = () => {
      term.options.cursorBlink = true;
      clearTimeout(blinkUntil);
      blinkUntil = setTimeout(() => { term.options.cursorBlink = false; }, 10_000);
    };
    term.textarea?.addEventListener('focus', blink);
    term.textarea?.addEventListener('blur', () => { clearTimeout(blinkUntil); term.options.cursorBlink = false; });
    term.onData((data) => { blink(); dotnet.invokeMethodAsync('Input', data); });
    term.onResize(({ cols, rows }) => dotnet.invokeMethodAsync('Resize', cols, rows));
    // Copy and paste: Ctrl+Shift+C / Ctrl+Shift+V (Ctrl+C stays the shell's interrupt).
    term.attachCustomKeyEventHandler((e) => {
      if (e.type !== 'keydown' || !e.ctrlKey || !e.shiftKey) return true;
      if (e.code === 'KeyC') { navigator.clipboard.writeText(term.getSelection()); return false; }
      if (e.code === 'KeyV') { navigator.clipboard.readText().then((t) => term.paste(t)); return false; }
      return true;
    });
    const observer = new ResizeObserver(() => fit.fit());
    observer.observe(element);
    return {
      size: () => [term.cols, term.rows],
      write: (base64) => term.write(Uint8Array.from(atob(base64), (c) => c.charCodeAt(0))),
      notice: (text) => term.write(`\r\n\x1b[33m${text}\x1b[0m\r\n`),
      focus: () => term.focus(),
      dispose: () => { clearTimeout(blinkUntil); observer.disconnect(); term.dispose(); },
    };
  },
};
