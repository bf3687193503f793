//! DeepRacer reward functions in Python, run unchanged: a file with
//! `def reward_function(params): ... return float(reward)`, called every step with DeepRacer's
//! full `params` dict, inside the worker (embedded CPython through pyo3).
//!
//! The function gets a deadline per call: a runaway Python loop is interrupted; code blocked in C
//! (`time.sleep`, a C extension), which no interrupt reaches, is reported through [`stuck_call`]
//! once it overruns by a grace period, so the worker can answer with the file and the step
//! instead of falling silent. And
//! its answer must be a finite number: `None`, a string, a bool, NaN or an exception stop the
//! rollout with a message that names the file and the step. What the code can reach is the
//! worker sandbox's business (`isolate.rs`); nothing here tries to contain Python itself.

use std::ffi::CString;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use paddock_sim::{RewardFunction, RewardParams, SimError};
use std::sync::atomic::{AtomicBool, Ordering};

use pyo3::exceptions::PyKeyboardInterrupt;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyList, PyString, PyTuple};

/// A loaded reward file, shared by every env of a worker (DeepRacer runs one module too).
pub struct PythonRewardFile {
    shared: Arc<Shared>,
}

struct Shared {
    function: Py<PyAny>,
    file: String,
    deadline: Duration,
    /// The call in progress: when it must end, the Python thread running it, the episode step.
    running: Mutex<Option<(Instant, u64, u32)>>,
    /// One call at a time (the GIL serialises them anyway; this keeps the deadline slot simple).
    call: Mutex<()>,
    /// Set when the watchdog interrupted the call in progress.
    fired: AtomicBool,
}

impl PythonRewardFile {
    /// Compiles `code` (named `file` in tracebacks) and finds `reward_function`.
    pub fn load(file: &str, code: &str, deadline: Duration) -> Result<PythonRewardFile, String> {
        let function = Python::attach(|py| -> Result<Py<PyAny>, String> {
            let code = CString::new(code).map_err(|_| format!("{file}: contains a NUL byte"))?;
            let name = CString::new(file).map_err(|_| "file name contains a NUL byte".to_string())?;
            let module = PyModule::from_code(py, &code, &name, c"reward_module").map_err(|e| format!("{file}: {}", traceback(py, &e)))?;
            let f = module.getattr("reward_function").map_err(|_| format!("{file} defines no reward_function(params)"))?;
            if !f.is_callable() {
                return Err(format!("{file}: reward_function is not a function"));
            }
            Ok(f.unbind())
        })?;
        let shared = Arc::new(Shared { function, file: file.into(), deadline, running: Mutex::new(None), call: Mutex::new(()), fired: AtomicBool::new(false) });
        let weak = Arc::downgrade(&shared);
        std::thread::Builder::new().name("reward-watchdog".into()).spawn(move || watchdog(weak)).map_err(|e| format!("reward watchdog: {e}"))?;
        // Apart from the watchdog, which waits for the GIL that C code may hold.
        let weak = Arc::downgrade(&shared);
        std::thread::Builder::new().name("reward-stuck".into()).spawn(move || stuck_watch(weak)).map_err(|e| format!("reward watchdog: {e}"))?;
        Ok(PythonRewardFile { shared })
    }

    /// A reward function for one env.
    pub fn instance(&self) -> Box<dyn RewardFunction> {
        Box::new(PythonReward { shared: self.shared.clone(), waypoints: None })
    }
}

/// Interrupts a call that runs past its deadline; ends with the file. It raises
/// `KeyboardInterrupt`, a `BaseException` that an `except Exception:` in the function won't swallow.
fn watchdog(shared: std::sync::Weak<Shared>) {
    loop {
        std::thread::sleep(Duration::from_millis(5));
        let Some(s) = shared.upgrade() else { return };
        let late = matches!(*s.running.lock().unwrap_or_else(|p| p.into_inner()), Some((end, _, _)) if Instant::now() > end);
        if late && !s.fired.load(Ordering::SeqCst) {
            Python::attach(|py| {
                // Checked again with the GIL held: the call may have ended meanwhile.
                if let Some((end, thread, _)) = *s.running.lock().unwrap_or_else(|p| p.into_inner()) {
                    if Instant::now() > end {
                        // SAFETY: the GIL is held; `thread` is the id of the thread running the call.
                        s.fired.store(true, Ordering::SeqCst);
                        unsafe { pyo3::ffi::PyThreadState_SetAsyncExc(thread as _, py.get_type::<PyKeyboardInterrupt>().as_ptr()) };
                    }
                }
            });
        }
    }
}

/// A call still running this long after its deadline is stuck where no interrupt reaches.
fn grace(deadline: Duration) -> Duration {
    deadline.max(Duration::from_secs(1))
}

static STUCK: Mutex<Option<String>> = Mutex::new(None);

/// A reward call stuck past its deadline and grace (blocked in C), as the error to report: the
/// file, the step and what happened. The worker can't take the call back; it should answer with
/// this and be replaced.
pub fn stuck_call() -> Option<String> {
    STUCK.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

fn stuck_watch(shared: std::sync::Weak<Shared>) {
    loop {
        std::thread::sleep(Duration::from_millis(20));
        let Some(s) = shared.upgrade() else { return };
        let running = *s.running.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((end, _, step)) = running {
            let over = Instant::now().saturating_duration_since(end);
            if over > grace(s.deadline) {
                let message = format!(
                    "{}, step {step} of the episode: took longer than {} ms and could not be stopped (blocked outside Python code, e.g. in time.sleep or a C extension)",
                    s.file,
                    s.deadline.as_millis()
                );
                *STUCK.lock().unwrap_or_else(|p| p.into_inner()) = Some(message);
                return;
            }
        }
    }
}

/// The Python traceback of an error, as Python prints it.
fn traceback(py: Python<'_>, e: &PyErr) -> String {
    py.import("traceback")
        .and_then(|m| m.call_method1("format_exception", (e.clone_ref(py),))?.extract::<Vec<String>>())
        .map(|lines| lines.concat().trim_end().to_string())
        .unwrap_or_else(|_| e.to_string())
}

struct PythonReward {
    shared: Arc<Shared>,
    /// `params['waypoints']`, built once: the track does not change.
    waypoints: Option<Py<PyList>>,
}

fn pairs<'py>(py: Python<'py>, points: impl IntoIterator<Item = (f32, f32)>) -> PyResult<Bound<'py, PyList>> {
    let tuples: Vec<Bound<'py, PyTuple>> = points.into_iter().map(|(x, y)| PyTuple::new(py, [x as f64, y as f64])).collect::<PyResult<_>>()?;
    PyList::new(py, tuples)
}

impl PythonReward {
    fn params<'py>(&mut self, py: Python<'py>, p: &RewardParams) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        if self.waypoints.is_none() {
            self.waypoints = Some(pairs(py, p.waypoints.iter().copied())?.unbind());
        }
        let f = |v: f32| v as f64;
        d.set_item("all_wheels_on_track", p.all_wheels_on_track)?;
        d.set_item("x", f(p.x))?;
        d.set_item("y", f(p.y))?;
        d.set_item("closest_objects", PyList::new(py, p.closest_objects)?)?;
        d.set_item("closest_waypoints", PyList::new(py, p.closest_waypoints)?)?;
        d.set_item("distance_from_center", f(p.distance_from_center))?;
        d.set_item("heading", f(p.heading))?;
        d.set_item("is_crashed", p.is_crashed)?;
        d.set_item("is_left_of_center", p.is_left_of_center)?;
        d.set_item("is_offtrack", p.is_offtrack)?;
        d.set_item("is_reversed", p.is_reversed)?;
        d.set_item("objects_distance", PyList::new(py, p.objects_distance.iter().map(|&v| f(v)))?)?;
        d.set_item("objects_heading", PyList::new(py, p.objects_heading.iter().map(|&v| f(v)))?)?;
        d.set_item("objects_left_of_center", PyList::new(py, &p.objects_left_of_center)?)?;
        d.set_item("objects_location", pairs(py, p.objects_location.iter().copied())?)?;
        d.set_item("objects_speed", PyList::new(py, p.objects_speed.iter().map(|&v| f(v)))?)?;
        d.set_item("progress", f(p.progress))?;
        d.set_item("speed", f(p.speed))?;
        d.set_item("steering_angle", f(p.steering_angle))?;
        d.set_item("steps", p.steps)?;
        d.set_item("track_length", f(p.track_length))?;
        d.set_item("track_width", f(p.track_width))?;
        d.set_item("waypoints", self.waypoints.as_ref().expect("built above").bind(py))?;
        Ok(d)
    }
}

impl RewardFunction for PythonReward {
    fn reward(&mut self, p: &RewardParams) -> Result<f32, SimError> {
        let shared = self.shared.clone();
        let file = &shared.file;
        let fail = |m: String| SimError::Reward(format!("{file}, step {} of the episode: {m}", p.steps));
        let _one = shared.call.lock().unwrap_or_else(|p| p.into_inner());
        Python::attach(|py| {
            let params = self.params(py, p).map_err(|e| fail(traceback(py, &e)))?;
            // SAFETY: reads the current thread's id; the GIL is held.
            let thread = unsafe { pyo3::ffi::PyThread_get_thread_ident() } as u64;
            shared.fired.store(false, Ordering::SeqCst);
            *shared.running.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now() + shared.deadline, thread, p.steps));
            let result = shared.function.call1(py, (params,));
            *shared.running.lock().unwrap_or_else(|p| p.into_inner()) = None;
            // A timeout raised just as the call returned must not hit the next one.
            // SAFETY: clears this thread's pending asynchronous exception; the GIL is held.
            unsafe { pyo3::ffi::PyThreadState_SetAsyncExc(thread as _, std::ptr::null_mut()) };
            let value = match result {
                Ok(v) => v,
                Err(_) if shared.fired.load(Ordering::SeqCst) => {
                    return Err(fail(format!("took longer than {} ms and was stopped", shared.deadline.as_millis())))
                }
                Err(e) => return Err(fail(traceback(py, &e))),
            };
            let v = value.bind(py);
            let type_name = || v.get_type().name().map(|n| n.to_string()).unwrap_or_default();
            if v.is_none() || v.is_instance_of::<PyBool>() || v.is_instance_of::<PyString>() {
                return Err(fail(format!("reward_function must return a number, got {}", type_name())));
            }
            let x: f64 = v.extract().map_err(|_| fail(format!("reward_function must return a number, got {}", type_name())))?;
            if !x.is_finite() || !(x as f32).is_finite() {
                return Err(fail(format!("reward_function returned {x}, not a finite 32-bit number")));
            }
            Ok(x as f32)
        })
    }
}
