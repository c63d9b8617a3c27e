// Crew phone: a new job vibrates the phone and beeps (Web Audio, no sound file). Browsers let a
// page make sound only after a tap, so the "sound" toggle (and the crew's first tap anywhere on
// the page) unlocks the audio; until then the toggle says sound is off, so the crew can see it.
"use strict";

WR.crewAlert = (() => {
  const { L: T } = WR;
  const toggle = document.getElementById("sound-toggle");
  const Context = window.AudioContext || window.webkitAudioContext;
  let audio = null;
  let wanted = localStorage.getItem("wr.crew.sound") !== "off"; // the crew's choice survives a reload

  function ready() {
    return audio !== null && audio.state === "running";
  }

  function show() {
    if (!toggle) return;
    const on = wanted && ready();
    toggle.setAttribute("aria-pressed", on ? "true" : "false");
    toggle.classList.toggle("sound-off", !on);
    toggle.textContent = on ? T.words.sound_on : T.words.sound_enable;
  }

  async function unlock() {
    if (!Context) return;
    if (audio === null) audio = new Context();
    if (audio.state !== "running") await audio.resume().catch(() => null);
    show();
  }

  function beep() {
    if (!wanted || !ready()) return false;
    const start = audio.currentTime + 0.02;
    for (let n = 0; n < 3; n++) { // three short high tones: heard over an engine
      const tone = audio.createOscillator();
      const gain = audio.createGain();
      tone.type = "square";
      tone.frequency.value = 880;
      const at = start + n * 0.35;
      gain.gain.setValueAtTime(0.0001, at);
      gain.gain.exponentialRampToValueAtTime(0.4, at + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.25);
      tone.connect(gain).connect(audio.destination);
      tone.start(at);
      tone.stop(at + 0.3);
    }
    return true;
  }

  function newJob() {
    if (typeof navigator.vibrate === "function") navigator.vibrate([400, 150, 400, 150, 400]);
    beep();
  }

  if (toggle) {
    toggle.addEventListener("click", async (event) => {
      event.stopPropagation();
      if (wanted && ready()) {
        wanted = false;
      } else {
        wanted = true;
        await unlock();
        beep(); // the crew hears what a new job sounds like
      }
      localStorage.setItem("wr.crew.sound", wanted ? "on" : "off");
      show();
    });
  }
  // the first tap anywhere (but on the toggle, which decides by itself) unlocks the sound the crew has not turned off
  function firstTap(event) {
    if (toggle && toggle.contains(event.target)) return;
    document.removeEventListener("pointerdown", firstTap, true);
    if (wanted && !ready()) unlock();
  }
  document.addEventListener("pointerdown", firstTap, true);
  show();
  return { newJob, beep };
})();
