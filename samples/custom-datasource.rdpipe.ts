// A user-defined datasource: readings of made-up sensors, generated in one read task per sensor.
// Run it with `npx rdpipe run samples/custom-datasource.rdpipe.ts`.
import * as rd from "rdpipe";
import { threadId } from "node:worker_threads";

/** What one read task gets in a worker: plain data, copied there from the driver. */
interface Sensor { sensor: number; readings: number }

class SensorReadings implements rd.Datasource<Sensor> {
  readonly name = "SensorReadings";

  constructor(private readonly sensors: number, private readonly readings: number) {}

  /** In the driver: one read task per sensor, with its row count. */
  *getReadTasks(): Iterable<rd.ReadTask<Sensor>> {
    for (let sensor = 0; sensor < this.sensors; sensor++) {
      yield { input: { sensor, readings: this.readings }, metadata: { numRows: this.readings } };
    }
  }

  /** In a worker: the task's rows (arrays of rows or Arrow tables), as many at a time as fit. */
  *read({ sensor, readings }: Sensor): Iterable<rd.Row[]> {
    const rows: rd.Row[] = [];
    for (let i = 0; i < readings; i++) {
      rows.push({ sensor, reading: i, value: sensor * 1000 + i, thread: threadId });
    }
    yield rows;
  }
}

export default rd.readDatasource(new SensorReadings(4, 250));
